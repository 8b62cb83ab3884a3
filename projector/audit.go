package projector

import (
	"maps"
	"slices"

	"github.com/kaasproject/kaas/events"
)

// The audit's index of orgs: the stream sequences of each org's records (by the envelope's
// org, as the audit filters them), kept by the folds, so that a provider's audit of one org
// reads the page's records and not everyone's history. Sequences are appended as each
// stream is folded, in order: the lists are ascending.

// noteOrg adds a record of org at seq to idx; a record folded again adds nothing.
func noteOrg(idx map[string][]uint64, org string, seq uint64) {
	if org == "" {
		return
	}
	if l := idx[org]; len(l) == 0 || l[len(l)-1] < seq {
		idx[org] = append(l, seq)
	}
}

// OrgRecords returns the stream sequences of the records of stream (events.EventStream or
// events.CommandStream) whose envelope names org, the from-th to before the to-th (0 first,
// oldest first, clipped to what there is), and how many there are.
func (v *Views) OrgRecords(stream, org string, from, to int) (seqs []uint64, total int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	idx := v.auditEvts
	if stream == events.CommandStream {
		idx = v.auditCmds
	}
	l := idx[org]
	from, to = min(max(from, 0), len(l)), min(max(to, 0), len(l))
	if from >= to {
		return nil, len(l)
	}
	return slices.Clone(l[from:to]), len(l)
}

func cloneIndex(idx map[string][]uint64) map[string][]uint64 {
	out := make(map[string][]uint64, len(idx))
	for org, l := range idx {
		out[org] = slices.Clone(l)
	}
	return out
}

func indexEqual(a, b map[string][]uint64) bool {
	return maps.EqualFunc(a, b, func(x, y []uint64) bool { return slices.Equal(x, y) })
}

// FirstEventSeq returns the event stream sequence of a cluster's first event, so that its
// history is read from there rather than searched for from the stream's start.
func (v *Views) FirstEventSeq(clusterID string) (uint64, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	seq, ok := v.firstEvt[clusterID]
	return seq, ok
}
