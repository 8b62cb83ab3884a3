package events

import (
	"strings"

	"github.com/google/uuid"
)

// JetStream names. They are API: scripts, dashboards and durable consumers rely on them.
const (
	CommandStream = "KAAS_COMMANDS"
	EventStream   = "KAAS_EVENTS"
	// AuditStream sources both, for providers' readers.
	AuditStream = "KAAS_AUDIT"
	// DeadLetterStream holds commands that could not be carried out after every retry,
	// with why, for an operator to retry or discard.
	DeadLetterStream   = "KAAS_DLQ"
	DeadLetterSubjects = "kaas.dlq.cluster.*"

	commandPrefix = "kaas.cmd.cluster."
	eventPrefix   = "kaas.evt.cluster."

	// CommandSubjects and EventSubjects are the streams' subject filters.
	CommandSubjects = commandPrefix + "*"
	EventSubjects   = eventPrefix + "*"
)

// CommandSubject is the subject of one cluster's commands.
func CommandSubject(clusterID string) string { return commandPrefix + clusterID }

// EventSubject is the subject of one cluster's events.
func EventSubject(clusterID string) string { return eventPrefix + clusterID }

// ClusterIDFromSubject returns the cluster id of a command or event subject.
func ClusterIDFromSubject(subject string) (string, bool) {
	if id, ok := strings.CutPrefix(subject, eventPrefix); ok {
		return id, true
	}
	return strings.CutPrefix(subject, commandPrefix)
}

// ValidClusterID reports whether s is a cluster id kaas could have made: a canonical UUID.
// It keeps ids safe as subject tokens.
func ValidClusterID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// namespace roots the name-based UUIDs kaas derives, so that they never collide with
// another system's.
var namespace = uuid.MustParse("0b4c1f1e-7d0a-4a57-9d2f-6b2f5c3e8a11")

// DeriveID returns a stable UUID for a purpose and a key, e.g. the cluster and command ids of
// a VCD request: a redelivered request derives the same ids and so creates nothing new.
func DeriveID(purpose, key string) string {
	return uuid.NewSHA1(namespace, []byte(purpose+"\x00"+key)).String()
}
