package events

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Payload is the body of a command or an event. Every payload type is registered in this
// package's type table.
type Payload interface {
	Type() string
}

// Envelope carries one command or event with its provenance.
type Envelope struct {
	// ID is a UUID. For a command it is derived from the VCD request id, so that a
	// redelivered request makes the same command.
	ID string
	// Type is the payload's registered type name; Marshal fills it from Payload.
	Type string
	// SchemaVersion is the payload's schema version; Marshal fills it from the table, and
	// Unmarshal reports the version after upcasting (the current one).
	SchemaVersion int
	// ClusterID is the cluster's UUID (the bare UUID of CSE's entity URN).
	ClusterID string
	// OrgID is the owning organization's URN.
	OrgID string
	// Actor is the URN of the user who asked, from VCD's security context.
	Actor string
	// Time is when the command was accepted or the event recorded.
	Time time.Time
	// CausationID is the id of the command that caused this event.
	CausationID string
	// CorrelationID is the VCD request id that started it all.
	CorrelationID string
	// PrevHash is the hex SHA-256 of the previous event of the same cluster as stored, or
	// empty for the first one. Commands leave it empty.
	PrevHash string
	// Payload is the typed body.
	Payload Payload
}

// Hash returns the hex SHA-256 of an encoded envelope: the PrevHash of the event that
// follows it.
func Hash(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:])
}
