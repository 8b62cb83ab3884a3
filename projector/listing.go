package projector

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// The cluster lists (OrgClusters, ClusterPage) are kept in order as the views fold, so that a
// page of a list costs the page, not the whole fleet: listed says where each cluster is
// listed, byName lists every existing cluster filed under an org, orgByName those of each
// org, all in OrgClusters' order (name, then id). relist keeps them in step with the folds
// and is called by them; listsEqual checks them against the folded records.

// listing is what the lists say of one cluster: the orgs it is filed under (as in
// Views.orgs) and, while it exists for a tenant, the name it is listed by.
type listing struct {
	orgs   []string
	name   string
	exists bool
}

// clusterKey orders a list: by name, then id.
type clusterKey struct{ name, id string }

func (a clusterKey) compare(b clusterKey) int {
	return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.id, b.id))
}

// orderedBlock is the size of an ordered list's blocks: an insert or removal moves at most
// twice this many keys, and finding the i-th key skips whole blocks.
const orderedBlock = 256

// ordered is a sorted set of cluster keys, kept in blocks so that inserts and removals in a
// list of 100,000 stay cheap and the i-th key is found without walking the keys before it.
type ordered struct {
	blocks [][]clusterKey
	n      int
}

// block returns the index of the block where k is or belongs: the first whose last key is
// not below k, else the last.
func (o *ordered) block(k clusterKey) int {
	b := sort.Search(len(o.blocks), func(i int) bool { blk := o.blocks[i]; return blk[len(blk)-1].compare(k) >= 0 })
	return min(b, len(o.blocks)-1)
}

func (o *ordered) insert(k clusterKey) {
	if len(o.blocks) == 0 {
		o.blocks, o.n = [][]clusterKey{{k}}, 1
		return
	}
	b := o.block(k)
	blk := o.blocks[b]
	i, found := slices.BinarySearchFunc(blk, k, clusterKey.compare)
	if found {
		return
	}
	blk = slices.Insert(blk, i, k)
	o.n++
	if len(blk) <= 2*orderedBlock {
		o.blocks[b] = blk
		return
	}
	// Split in two; each half gets a backing array of its own.
	o.blocks[b] = slices.Clip(blk[:orderedBlock])
	o.blocks = slices.Insert(o.blocks, b+1, slices.Clone(blk[orderedBlock:]))
}

func (o *ordered) remove(k clusterKey) {
	if len(o.blocks) == 0 {
		return
	}
	b := o.block(k)
	blk := o.blocks[b]
	i, found := slices.BinarySearchFunc(blk, k, clusterKey.compare)
	if !found {
		return
	}
	o.n--
	if blk = slices.Delete(blk, i, i+1); len(blk) == 0 {
		o.blocks = slices.Delete(o.blocks, b, b+1)
		return
	}
	o.blocks[b] = blk
}

// each calls fn with the keys in order from the from-th (0 first) on, until fn returns false.
func (o *ordered) each(from int, fn func(clusterKey) bool) {
	if o == nil {
		return
	}
	for _, blk := range o.blocks {
		if from >= len(blk) {
			from -= len(blk)
			continue
		}
		for _, k := range blk[from:] {
			if !fn(k) {
				return
			}
		}
		from = 0
	}
}

func (o *ordered) len() int {
	if o == nil {
		return 0
	}
	return o.n
}

// keys returns every key in order.
func (o *ordered) keys() []clusterKey {
	var out []clusterKey
	o.each(0, func(k clusterKey) bool { out = append(out, k); return true })
	return out
}

// shown returns whether a cluster exists for a tenant and the name it is listed by, as
// clusterLocked and ClusterView's Exists and Name would say, without building its view.
func (v *Views) shown(id string) (name string, exists bool) {
	if v.isTemplate(id) {
		return "", false
	}
	if st := v.clusters[id]; st != nil && st.Exists {
		return st.Spec.Name, !st.Deleted
	}
	// The first pending create, in opOrder (sharing changes are not the cluster's operations).
	for _, r := range v.byCluster[id] {
		if r.evt.status == "" && r.acl() == nil && r.command() != "" && r.cmd.spec != nil {
			return r.cmd.spec.Name, true
		}
	}
	return "", false
}

// fileUnder notes that a cluster is filed under an org (Views.orgs): it is listed there too
// while it exists.
func (v *Views) fileUnder(org, id string) {
	l := v.listed[id]
	l.orgs = append(l.orgs, org)
	v.listed[id] = l
	if l.exists {
		v.orgList(org).insert(clusterKey{l.name, id})
	}
}

func (v *Views) orgList(org string) *ordered {
	o := v.orgByName[org]
	if o == nil {
		o = &ordered{}
		v.orgByName[org] = o
	}
	return o
}

// relist puts a cluster where the lists say after a fold changed it: in or out of them, and
// under its name.
func (v *Views) relist(id string) {
	l, ok := v.listed[id]
	if !ok {
		return // filed under no org: listed nowhere
	}
	name, exists := v.shown(id)
	if exists == l.exists && name == l.name {
		return
	}
	if l.exists {
		k := clusterKey{l.name, id}
		v.byName.remove(k)
		for _, org := range l.orgs {
			v.orgByName[org].remove(k)
			if v.orgByName[org].len() == 0 {
				delete(v.orgByName, org)
			}
		}
	}
	l.name, l.exists = name, exists
	v.listed[id] = l
	if exists {
		k := clusterKey{name, id}
		v.byName.insert(k)
		for _, org := range l.orgs {
			v.orgList(org).insert(k)
		}
	}
}

// relistAll builds the lists afresh from the folded records, as the folds would have kept
// them: for views made other than by folding (a copy, a restore).
func (v *Views) relistAll() {
	v.listed, v.byName, v.orgByName = map[string]listing{}, &ordered{}, map[string]*ordered{}
	for org, ids := range v.orgs {
		for id := range ids {
			l := v.listed[id]
			l.orgs = append(l.orgs, org)
			v.listed[id] = l
		}
	}
	for id := range v.listed {
		v.relist(id)
	}
}

// listsEqual reports whether two views list the same clusters in the same order.
func listsEqual(a, b *Views) bool {
	if len(a.orgByName) != len(b.orgByName) || !slices.Equal(a.byName.keys(), b.byName.keys()) {
		return false
	}
	for org, o := range a.orgByName {
		if !slices.Equal(o.keys(), b.orgByName[org].keys()) {
			return false
		}
	}
	for id, l := range a.listed {
		m, ok := b.listed[id]
		if !ok || l.name != m.name || l.exists != m.exists || !slices.Equal(slices.Sorted(slices.Values(l.orgs)), slices.Sorted(slices.Values(m.orgs))) {
			return false
		}
	}
	return len(a.listed) == len(b.listed)
}

// ClusterPage returns a page of OrgClusters(org) (every org's when org is empty), keeping
// only the clusters keep admits (nil admits all): up to n of them, from the from-th admitted
// (0 first) on, and how many keep admits in all. keep sees each cluster as the views hold
// it, under their lock: it must neither keep nor change what it is given. Without keep, a
// page costs itself, not the list.
func (v *Views) ClusterPage(org string, from, n int, keep func(ClusterView) bool) (page []ClusterView, total int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	list := v.byName
	if org != "" {
		list = v.orgByName[org]
	}
	add := func(k clusterKey) bool {
		if len(page) >= n {
			return false
		}
		if cv, ok := v.clusterLocked(k.id); ok {
			page = append(page, cv)
		}
		return true
	}
	if keep == nil {
		if from < list.len() {
			list.each(from, add)
		}
		return page, list.len()
	}
	list.each(0, func(k clusterKey) bool {
		if !keep(v.peekLocked(k.id)) {
			return true
		}
		if total >= from {
			add(k)
		}
		total++
		return true
	})
	return page, total
}
