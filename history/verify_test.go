package history

import (
	"slices"
	"testing"

	"github.com/kaasproject/kaas/events"
)

// The verifier finds each kind of break in a cluster's hash chain, from records alone.
func TestVerifier(t *testing.T) {
	// rec is event seq of cluster id, stored as raw, chained to the record stored as prev.
	rec := func(seq uint64, id, raw, prev string) Record {
		r := Record{Seq: seq, Raw: []byte(raw), Envelope: events.Envelope{ClusterID: id}}
		if prev != "" {
			r.Envelope.PrevHash = events.Hash([]byte(prev))
		}
		return r
	}
	type head struct {
		seq uint64
		raw string
	}
	for _, tt := range []struct {
		name  string
		recs  []Record
		heads map[string]head
		want  []string // kind of each problem, in order
	}{
		{"in order", []Record{rec(1, "a", "a1", ""), rec(2, "b", "b1", ""), rec(3, "a", "a2", "a1")},
			map[string]head{"a": {3, "a2"}, "b": {2, "b1"}}, nil},
		{"appended since the head", []Record{rec(1, "a", "a1", ""), rec(2, "a", "a2", "a1")}, map[string]head{"a": {1, "a1"}}, nil},
		{"first gone", []Record{rec(2, "a", "a2", "a1")}, map[string]head{"a": {2, "a2"}}, []string{problemMissing}},
		{"one changed", []Record{rec(1, "a", "a1", ""), rec(2, "a", "a2 changed", "a1"), rec(3, "a", "a3", "a2")},
			map[string]head{"a": {3, "a3"}}, []string{problemBroken}},
		{"reordered", []Record{rec(1, "a", "a1", ""), rec(2, "a", "a3", "a2"), rec(3, "a", "a2", "a1")},
			map[string]head{}, []string{problemBroken, problemReordered}},
		{"a second first", []Record{rec(1, "a", "a1", ""), rec(2, "a", "a1 again", "")}, map[string]head{}, []string{problemReordered}},
		{"head cut off", []Record{rec(1, "a", "a1", "")}, map[string]head{"a": {2, "a2"}}, []string{problemHead}},
		{"head changed", []Record{rec(1, "a", "a1", ""), rec(2, "a", "a2 changed", "a1")}, map[string]head{"a": {2, "a2"}}, []string{problemHead}},
		{"all gone", nil, map[string]head{"a": {1, "a1"}}, []string{problemHead}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier()
			for _, r := range tt.recs {
				v.add(r)
			}
			for id, h := range tt.heads {
				v.checkHead(id, h.seq, events.Hash([]byte(h.raw)))
			}
			_, n, problems := v.result()
			if n != len(tt.recs) {
				t.Errorf("%d events checked, want %d", n, len(tt.recs))
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems %v (%+v), want %v", got, problems, tt.want)
			}
		})
	}
}
