package kaasd

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress"
)

// deadLetters adapts the store's dead-letter queue to the ingress's (ingress.DeadLetterQueue),
// so that the ingress knows no store.
type deadLetters struct{ store *jsstore.Store }

func (q deadLetters) DeadLetters(ctx context.Context) ([]ingress.DeadLetter, error) {
	all, err := q.store.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ingress.DeadLetter, len(all))
	for i, d := range all {
		out[i] = ingress.DeadLetter{Seq: d.Seq, CommandSeq: d.CommandSeq, Command: d.Command, Error: d.Error, At: d.At}
	}
	return out, nil
}

func (q deadLetters) RemoveDeadLetter(ctx context.Context, seq uint64) error {
	err := q.store.RemoveDeadLetter(ctx, seq)
	if errors.Is(err, jsstore.ErrNoDeadLetter) {
		return fmt.Errorf("%w: %w", ingress.ErrNoDeadLetter, err)
	}
	return err
}
