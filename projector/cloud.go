package projector

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/kaasproject/kaas/events"
)

// CloudView is what kaas offers Kubernetes on: the provider's templates, the org VDCs and
// the runtimes each is enabled for, and whether the service takes requests.
type CloudView struct {
	// Templates are what tenants are offered: the catalog's templates as last synced, as
	// kaas's template operations since changed them (built or imported: added; deprecated:
	// flagged; deleted: removed), and as deprecations and deletes accepted and not started
	// yet will change them.
	Templates []events.Template
	// VDCs are VCD's org VDCs, as last synced, plus any enabled since that the sync did not
	// list, sorted by org then name.
	VDCs []VDCView
	// Synced is when VCD was last read; zero before the first sync.
	Synced time.Time
	// ServiceEnabled is false once a provider disabled the service.
	ServiceEnabled bool
	// named indexes VDCs by folded org name and name, for VDCNamed.
	named map[string]int
}

// VDCNamed returns the org VDC a tenant names in a cluster spec: org name (compared as
// strings.EqualFold does) and VDC name; the first in order when several match.
func (c CloudView) VDCNamed(org, name string) (VDCView, bool) {
	if i, ok := c.named[vdcKey(org, name)]; ok {
		return c.VDCs[i], true
	}
	return VDCView{}, false
}

// vdcKey folds each rune of org to the smallest of its case-folding orbit, so that two
// org names have one key exactly when strings.EqualFold says they are equal.
func vdcKey(org, name string) string {
	var b strings.Builder
	b.Grow(len(org) + 1 + len(name))
	for _, r := range org {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	b.WriteByte('/')
	b.WriteString(name)
	return b.String()
}

// VDCView is an org VDC, the runtimes it is enabled for and, once a sync read them, its
// networks. (Both network fields are left out of JSON when empty, so that views recorded
// before kaas read networks render as they did.)
type VDCView struct {
	events.VDC
	Runtimes []string
	// Networks are the VDC's networks as last synced, when NetworksKnown: a history from
	// before kaas read networks, or a sync that could not read the VDC, leaves them unknown.
	Networks      []events.Network `json:",omitempty"`
	NetworksKnown bool             `json:",omitempty"`
	// StorageProfiles and SizingPolicies are what the VDC offers VMs as last synced, when
	// their Known is set; like the networks, left out of JSON when empty.
	StorageProfiles      []events.StorageProfile `json:",omitempty"`
	StorageProfilesKnown bool                    `json:",omitempty"`
	SizingPolicies       []events.SizingPolicy   `json:",omitempty"`
	SizingPoliciesKnown  bool                    `json:",omitempty"`
}

// Enabled reports whether the VDC is enabled for the native runtime.
func (d VDCView) Enabled() bool { return slices.Contains(d.Runtimes, events.RuntimeNative) }

// cloud is the cloud aggregate's fold. A change takes effect when its command is accepted
// (read your writes: these need no VCD work, so an executor only confirms them) and the
// newest command wins. What commands set and what events confirmed are kept apart, each
// written by its own fold, and merged when read: a value is the command's unless an event
// confirmed a newer command, whatever order commands and events are folded in.
type cloud struct {
	templates []events.Template
	vdcs      []events.VDC
	networks  map[string][]events.Network // by VDC id, as last synced
	// users are VCD's users by URN, as learnt from syncs: kept once learnt, the name of a
	// newer sync winning.
	users   map[string]knownUser
	synced  time.Time
	syncSeq uint64
	// What each VDC offers VMs, by VDC id, as last synced.
	profiles map[string][]events.StorageProfile
	policies map[string][]events.SizingPolicy
	// By VDC id: what the newest command set, and what the newest event recorded.
	cmdRuntimes, evtRuntimes map[string]runtimes
	cmdService, evtService   service
}

// knownUser is a user's name and org, and the sequence of the sync that said so.
type knownUser struct {
	UserView
	seq uint64
}

// UserView is a VCD user kaas learnt from a sync: its name and the URN of its org (empty
// when VCD did not say).
type UserView struct {
	Name  string
	OrgID string
}

// runtimes is what one record set a VDC's runtimes to.
type runtimes struct {
	vdc   events.VDC
	names []string
	from  origin
}

// service is what one record set the service state to, if any did.
type service struct {
	set, enabled bool
	from         origin
}

// origin is the record a value came from: a command (seq, its stream sequence) or an event
// (cause, the id of the command it confirms).
type origin struct {
	seq   uint64
	cause string
}

// eventWins reports whether the value an event recorded is newer than the one a command
// set, both being there: an event whose command is not folded yet confirms a command newer
// than every folded one, since commands are folded in order. On a tie the command's own
// record stands, and so does any command's against an event that names none.
func eventWins(cmd, evt origin, seqOf func(id string) uint64) bool {
	if evt.cause == "" {
		return false
	}
	s := seqOf(evt.cause)
	return s == 0 || s > cmd.seq
}

func newCloud() *cloud {
	return &cloud{cmdRuntimes: map[string]runtimes{}, evtRuntimes: map[string]runtimes{}, users: map[string]knownUser{}}
}

// command folds a cloud command accepted at stream sequence seq.
func (c *cloud) command(seq uint64, p events.Payload) {
	switch p := p.(type) {
	case events.SetVDCRuntimes:
		c.cmdRuntimes[p.VDC.ID] = runtimes{vdc: p.VDC, names: slices.Clone(p.Runtimes), from: origin{seq: seq}}
	case events.SetServiceState:
		c.cmdService = service{set: true, enabled: p.Enabled, from: origin{seq: seq}}
	}
}

// event folds a cloud event; cause is the id of the command that caused it.
func (c *cloud) event(seq uint64, cause string, t time.Time, p events.Payload) {
	switch p := p.(type) {
	case events.CloudSynced:
		if seq > c.syncSeq {
			c.templates, c.vdcs, c.synced, c.syncSeq = slices.Clone(p.Templates), slices.Clone(p.VDCs), t, seq
			c.networks = make(map[string][]events.Network, len(p.Networks))
			for _, n := range p.Networks {
				c.networks[n.VDC] = cloneNetworks(n.Networks)
			}
			c.profiles = make(map[string][]events.StorageProfile, len(p.StorageProfiles))
			for _, sp := range p.StorageProfiles {
				c.profiles[sp.VDC] = cloneList(sp.Profiles)
			}
			c.policies = make(map[string][]events.SizingPolicy, len(p.SizingPolicies))
			for _, sp := range p.SizingPolicies {
				c.policies[sp.VDC] = cloneList(sp.Policies)
			}
		}
		for _, u := range p.Users {
			if k, ok := c.users[u.ID]; !ok || seq > k.seq {
				c.users[u.ID] = knownUser{UserView{Name: u.Name, OrgID: u.OrgID}, seq}
			}
		}
	case events.VDCRuntimesChanged:
		c.evtRuntimes[p.VDC.ID] = runtimes{vdc: p.VDC, names: slices.Clone(p.Runtimes), from: origin{cause: cause}}
	case events.ServiceStateChanged:
		c.evtService = service{set: true, enabled: p.Enabled, from: origin{cause: cause}}
	}
}

// runtimesOf is a VDC's runtimes in force.
func (c *cloud) runtimesOf(id string, seqOf func(string) uint64) (runtimes, bool) {
	cr, okC := c.cmdRuntimes[id]
	er, okE := c.evtRuntimes[id]
	if okE && (!okC || eventWins(cr.from, er.from, seqOf)) {
		return er, true
	}
	return cr, okC
}

// serviceEnabled is whether the service takes requests: what the newest command or event
// said, enabled when none did.
func (c *cloud) serviceEnabled(seqOf func(id string) uint64) bool {
	cs, es := c.cmdService, c.evtService
	switch {
	case es.set && (!cs.set || eventWins(cs.from, es.from, seqOf)):
		return es.enabled
	case cs.set:
		return cs.enabled
	}
	return true
}

// view merges the folds; seqOf gives a folded command's stream sequence, 0 for one not
// folded.
func (c *cloud) view(seqOf func(id string) uint64) CloudView {
	out := CloudView{Templates: slices.Clone(c.templates), Synced: c.synced, ServiceEnabled: c.serviceEnabled(seqOf)}
	seen := map[string]bool{}
	for _, d := range c.vdcs {
		seen[d.ID] = true
		r, _ := c.runtimesOf(d.ID, seqOf)
		nets, known := c.networks[d.ID]
		profiles, profilesKnown := c.profiles[d.ID]
		policies, policiesKnown := c.policies[d.ID]
		out.VDCs = append(out.VDCs, VDCView{VDC: d, Runtimes: slices.Clone(r.names), Networks: cloneNetworks(nets), NetworksKnown: known,
			StorageProfiles: cloneList(profiles), StorageProfilesKnown: profilesKnown, SizingPolicies: cloneList(policies), SizingPoliciesKnown: policiesKnown})
	}
	for _, m := range []map[string]runtimes{c.cmdRuntimes, c.evtRuntimes} {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				r, _ := c.runtimesOf(id, seqOf)
				out.VDCs = append(out.VDCs, VDCView{VDC: r.vdc, Runtimes: slices.Clone(r.names)})
			}
		}
	}
	slices.SortFunc(out.VDCs, func(a, b VDCView) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.OrgName), strings.ToLower(b.OrgName)), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Cloud returns the cloud's view. It is shared by every caller until the cloud changes:
// read it, never modify it.
func (v *Views) Cloud() CloudView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if cv := v.cloudView.Load(); cv != nil {
		return *cv
	}
	// Built under the read lock: no fold can change what it reads until it is stored, and
	// a fold that changes it afterwards clears it under the write lock.
	cv := v.cloud.view(v.commandSeq)
	cv.Templates = v.catalogTemplates(cv.Templates)
	cv.named = make(map[string]int, len(cv.VDCs))
	for i, d := range cv.VDCs {
		key := vdcKey(d.OrgName, d.Name)
		if _, dup := cv.named[key]; !dup { // the first, as a scan in order finds it
			cv.named[key] = i
		}
	}
	v.cloudView.Store(&cv)
	return cv
}

// ServiceEnabled reports whether the service takes requests, as Cloud().ServiceEnabled
// does without building the rest of the view: every request asks.
func (v *Views) ServiceEnabled() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cloud.serviceEnabled(v.commandSeq)
}

// CloudSynced reports whether a sync read VCD at least once, as !Cloud().Synced.IsZero().
func (v *Views) CloudSynced() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return !v.cloud.synced.IsZero()
}

// User returns what a sync said of a VCD user, by URN: a lookup in memory, for the names
// answers show (a cluster's owner, its ACL), so that no request waits for VCD.
func (v *Views) User(id string) (UserView, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	u, ok := v.cloud.users[id]
	return u.UserView, ok
}

// Users returns every VCD user the syncs named, by URN.
func (v *Views) Users() map[string]UserView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]UserView, len(v.cloud.users))
	for id, u := range v.cloud.users {
		out[id] = u.UserView
	}
	return out
}

// applyCloudEvent folds an event of the cloud aggregate, with mu held.
func (v *Views) applyCloudEvent(seq uint64, env events.Envelope) {
	if env.CausationID != "" {
		o := &v.named(seq, env).evt
		o.started, o.ended, o.step = env.Time, env.Time, env.Type
		if p, rejected := env.Payload.(events.CommandRejected); rejected {
			f := p.Failure
			o.status, o.failure = OpRejected, &f
			o.typ = cmp.Or(p.CommandType, o.typ)
		} else {
			o.status, o.percent = OpSucceeded, 100
		}
		if p, ok := env.Payload.(events.VDCRuntimesChanged); ok {
			vdc := p.VDC
			o.vdc = &vdc
		}
	}
	v.cloud.event(seq, env.CausationID, env.Time, env.Payload)
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

func (c *cloud) clone() *cloud {
	cp := *c
	cp.templates, cp.vdcs = slices.Clone(c.templates), slices.Clone(c.vdcs)
	cp.cmdRuntimes, cp.evtRuntimes = maps.Clone(c.cmdRuntimes), maps.Clone(c.evtRuntimes)
	cp.networks = maps.Clone(c.networks) // the lists themselves are replaced, never changed
	cp.users = maps.Clone(c.users)
	cp.profiles, cp.policies = maps.Clone(c.profiles), maps.Clone(c.policies)
	return &cp
}

// cloneList copies a list of values, keeping nil nil (a view that shares no list).
func cloneList[T any](l []T) []T {
	if l == nil {
		return nil
	}
	return slices.Clone(l)
}

// cloneNetworks copies a VDC's networks, subnets included, so that no view shares them.
func cloneNetworks(nets []events.Network) []events.Network {
	if nets == nil {
		return nil
	}
	out := make([]events.Network, len(nets))
	for i, n := range nets {
		out[i] = events.Network{Name: n.Name, CIDRs: slices.Clone(n.CIDRs)}
	}
	return out
}
