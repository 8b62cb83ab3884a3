package cluster

import (
	"maps"
	"slices"
)

// Memory is what a State keeps beside its exported fields: the commands it saw and the
// next node ordinal of each role. A codec that carries a State's exported fields carries
// this beside them (the projector's binary snapshots of its views do).
type Memory struct {
	Commands    []string
	NextOrdinal map[string]int
}

// Memory returns the state's memory, the commands sorted.
func (s *State) Memory() Memory {
	var cmds []string
	if s.commands != nil {
		cmds = slices.Sorted(maps.Keys(s.commands))
		if cmds == nil {
			cmds = []string{}
		}
	}
	return Memory{Commands: cmds, NextOrdinal: s.nextOrdinal}
}

// Restore gives the state the memory Memory returned.
func (s *State) Restore(m Memory) {
	s.commands = nil
	if m.Commands != nil {
		s.commands = make(map[string]bool, len(m.Commands))
		for _, c := range m.Commands {
			s.commands[c] = true
		}
	}
	s.nextOrdinal = m.NextOrdinal
}
