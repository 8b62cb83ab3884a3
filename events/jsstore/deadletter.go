package jsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

// Headers of a dead letter.
const (
	headerDeadError      = "Kaas-Error"
	headerDeadCommandSeq = "Kaas-Command-Seq"
)

// DeadLetter is store.DeadLetter.
type DeadLetter = store.DeadLetter

// DeadLetter moves a command (as stored, at cmdSeq) to KAAS_DLQ with the error that stopped
// it. Doing it twice keeps one copy.
func (s *Store) DeadLetter(ctx context.Context, cmdSeq uint64, cmd events.Envelope, raw []byte, reason string) error {
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	id := cmd.ClusterID
	if !events.ValidClusterID(id) {
		id = "unknown" // an undecodable command: still kept, under a safe subject
	}
	msg := &nats.Msg{Subject: deadLetterSubject(id), Data: raw, Header: nats.Header{}}
	msg.Header.Set(headerDeadError, reason)
	msg.Header.Set(headerDeadCommandSeq, strconv.FormatUint(cmdSeq, 10))
	if _, err := s.publish(ctx, msg, jetstream.WithMsgID("dlq-"+strconv.FormatUint(cmdSeq, 10)),
		jetstream.WithExpectStream(events.DeadLetterStream)); err != nil {
		return fmt.Errorf("dead-letter command %d: %w", cmdSeq, err)
	}
	return nil
}

// deadLetterSubject is the subject of one cluster's dead letters.
func deadLetterSubject(clusterID string) string { return "kaas.dlq.cluster." + clusterID }

// DeadLetters lists KAAS_DLQ, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	err := s.scan(ctx, ScanFilter{Stream: events.DeadLetterStream}, func(r Record, h nats.Header) bool {
		cmdSeq, _ := strconv.ParseUint(h.Get(headerDeadCommandSeq), 10, 64)
		out = append(out, DeadLetter{Seq: r.Seq, CommandSeq: cmdSeq, Command: r.Envelope, Error: h.Get(headerDeadError), At: r.Time})
		return true
	})
	return out, err
}

// ErrNoDeadLetter is store.ErrNoDeadLetter.
var ErrNoDeadLetter = store.ErrNoDeadLetter

// RemoveDeadLetter deletes one dead letter, once an operator retried or discarded it.
func (s *Store) RemoveDeadLetter(ctx context.Context, seq uint64) error {
	if err := s.dlq.DeleteMsg(ctx, seq); err != nil {
		// The server refuses to delete a missing message with a generic "deletion failed"
		// (10057), not "no message found": a get tells whether the message is there.
		if _, gerr := s.dlq.GetMsg(ctx, seq); errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("dead letter %d: %w", seq, ErrNoDeadLetter)
		}
		return fmt.Errorf("remove dead letter %d: %w", seq, err)
	}
	return nil
}
