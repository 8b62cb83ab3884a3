// Package store says what kaas keeps its commands and events in, apart from how: the records
// a store returns, the deliveries of commands to executors, the following of a stream, the
// key-value buckets components keep state of their own in (kv.go), and the errors every
// store reports alike. Components declare the small interface they need of
// a store with these types; events/jsstore (JetStream) and events/memstore (memory, for
// tests) implement them, and events/store/storetest holds the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kaasproject/kaas/events"
)

// Errors every store reports alike.
var (
	// ErrConflict means another append reached the cluster's subject first: reload the
	// history, decide again, retry.
	ErrConflict = errors.New("append conflict: the cluster's history moved on")
	// ErrNoSecret means no secret is stored under the reference.
	ErrNoSecret = errors.New("no such secret")
	// ErrStopped is what Deliveries.Next returns once the deliveries are stopped.
	ErrStopped = errors.New("deliveries stopped")
	// ErrNoDeadLetter means the dead-letter queue holds no such sequence.
	ErrNoDeadLetter = errors.New("no such dead letter")
)

// Encode checks that env is of the kind a stream holds (events.KindCommand for the command
// stream, events.KindEvent for the event stream) and encodes it as every store stores it.
func Encode(env events.Envelope, kind events.Kind) ([]byte, error) {
	if k := events.KindOf(env.Payload.Type()); k != kind {
		return nil, fmt.Errorf("append: %s is not %s", env.Payload.Type(), kindName[kind])
	}
	return events.Marshal(env)
}

var kindName = map[events.Kind]string{events.KindCommand: "a command", events.KindEvent: "an event"}

// Record is one stored command or event.
type Record struct {
	Seq      uint64
	Subject  string
	MsgID    string
	Time     time.Time
	Raw      []byte
	Envelope events.Envelope
}

// Hash returns the hash of the record as stored: the PrevHash of the event after it.
func (r Record) Hash() string { return events.Hash(r.Raw) }

// Raw is one stored record as it was written, not yet decoded: what a follower receives, so
// that it decodes as it sees fit (the projector decodes batches on every core).
type Raw struct {
	Seq  uint64
	Time time.Time
	Data []byte
}

// Ends are the last sequences of the command and event streams, and when the last event was
// stored (zero when there is none).
type Ends struct {
	Commands, Events uint64
	EventTime        time.Time
}

// ConsumerConfig names a durable consumer of every cluster's commands. Each command is
// delivered to one of the consumer's holders at a time, until it is acked or terminated; a
// delivery not acked within AckWait (and not kept alive with InProgress) is delivered again.
type ConsumerConfig struct {
	// Name is the consumer's durable name: holders of the same name share the work.
	Name        string
	Description string
	AckWait     time.Duration
	// Prefetch is how many deliveries a holder buffers ahead of Next.
	Prefetch int
}

// Deliveries is a holder's stream of command deliveries.
type Deliveries interface {
	// Next waits for the next delivery; it returns ErrStopped after Stop.
	Next() (Delivery, error)
	// Stop ends the deliveries; those not yet returned by Next go back to the consumer.
	Stop()
}

// Delivery is one delivery of a stored command.
type Delivery interface {
	Seq() uint64
	Subject() string
	Data() []byte
	// Ack ends the command's deliveries, and returns once the store has recorded that.
	Ack(ctx context.Context) error
	// Nak delivers the command again at once; NakWithDelay after d.
	Nak() error
	NakWithDelay(d time.Duration) error
	// InProgress restarts the AckWait of this delivery.
	InProgress() error
	// Term ends the command's deliveries without carrying it out, for the reason given.
	Term(reason string) error
}

// Secrets keeps kubeconfigs and join commands out of events, logs and metrics.
type Secrets interface {
	// Put stores a secret under ref, replacing any earlier value.
	Put(ctx context.Context, ref string, value []byte) error
	// Get returns the secret stored under ref; ErrNoSecret (wrapped) when there is none.
	Get(ctx context.Context, ref string) ([]byte, error)
	// Delete removes a secret; deleting one that does not exist is not an error.
	Delete(ctx context.Context, ref string) error
}

// ScanFilter narrows a scan of a stream.
type ScanFilter struct {
	// Stream is events.EventStream, events.CommandStream or events.DeadLetterStream.
	Stream string
	// ClusterID, when set, reads that cluster's subject only.
	ClusterID string
	// Since, when set, starts at the first record stored at or after it.
	Since time.Time
	// After, when set, starts at the record after this stream sequence (a cursor); it wins
	// over Since, which the caller then still compares with the records' times.
	After uint64
}

// DeadLetter is a command that could not be carried out, kept with why.
type DeadLetter struct {
	// Seq is its sequence in the dead-letter queue; CommandSeq the command's.
	Seq, CommandSeq uint64
	Command         events.Envelope
	Error           string
	At              time.Time
}
