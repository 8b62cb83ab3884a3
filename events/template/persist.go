package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// snapshotVersion changes whenever State's fields change meaning: an older snapshot is then
// ignored and the history folded from the start, which is always right.
const snapshotVersion = 1

// persisted is a State as stored in a snapshot, its unexported memory included.
type persisted struct {
	V        int      `json:"v"`
	State    *State   `json:"state"`
	Commands []string `json:"commands"`
}

// MarshalSnapshot encodes the state, so that a fold of a long history can start from it.
// It is a cache of the fold, never the truth: the events are.
func (s *State) MarshalSnapshot() ([]byte, error) {
	return json.Marshal(persisted{V: snapshotVersion, State: s, Commands: slices.Sorted(maps.Keys(s.commands))})
}

// UnmarshalSnapshot decodes a state MarshalSnapshot encoded. A snapshot of another version
// is refused: fold the history from the start instead.
func UnmarshalSnapshot(b []byte) (*State, error) {
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if p.V != snapshotVersion || p.State == nil {
		return nil, fmt.Errorf("snapshot version %d: this kaas reads %d", p.V, snapshotVersion)
	}
	st := p.State
	// A state that folded any event has the map (see note), empty or not.
	st.commands = make(map[string]bool, len(p.Commands))
	for _, c := range p.Commands {
		st.commands[c] = true
	}
	return st, nil
}
