package vcdext

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// maxKnownExchanges bounds the cache of checked reply exchanges. VCD uses one.
const maxKnownExchanges = 1024

type pubOp int

const (
	opPublish       pubOp = iota
	opWasReturned         // was the reply with this token returned unroutable?
	opCheckExchange       // may replies be published to this exchange?
)

// pubReq asks the publisher goroutine to do one thing on the publishing connection. ctx is
// the worker's, passed along so the publish honours its deadline.
type pubReq struct {
	op       pubOp
	ctx      context.Context
	exchange string
	key      string
	msg      amqp.Publishing
	res      chan pubRes
}

type pubRes struct {
	dc       *amqp.DeferredConfirmation
	returned bool
	err      error
}

// publish sends one reply with mandatory set and waits for its confirm, all within
// PublishTimeout. returned reports that the broker could not route it (basic.return).
func (g *generation) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) (returned bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.c.cfg.PublishTimeout)
	defer cancel()
	// The token matches a basic.return to this reply; VCD ignores message_id.
	msg.MessageId = fmt.Sprintf("%s-%d", g.tag, g.seq.Add(1))
	res, err := g.pubCall(ctx, pubReq{op: opPublish, exchange: exchange, key: key, msg: msg})
	if err != nil {
		return false, err
	}
	if res.err != nil {
		return false, res.err
	}
	if res.dc == nil {
		return false, errors.New("publishing channel is not in confirm mode")
	}
	acked, err := res.dc.WaitContext(ctx)
	if err != nil {
		return false, fmt.Errorf("wait for confirm: %w", err)
	}
	if !acked {
		return false, errors.New("broker nacked the reply or the channel closed")
	}
	res, err = g.pubCall(ctx, pubReq{op: opWasReturned, msg: amqp.Publishing{MessageId: msg.MessageId}})
	if err != nil {
		return false, err
	}
	return res.returned, nil
}

// checkExchange makes sure the reply exchange exists before the handler runs: publishing to
// a missing exchange would close the publishing channel, and the message, redelivered,
// would do it again forever.
func (g *generation) checkExchange(ctx context.Context, exchange string) error {
	ctx, cancel := context.WithTimeout(ctx, g.c.cfg.PublishTimeout)
	defer cancel()
	res, err := g.pubCall(ctx, pubReq{op: opCheckExchange, exchange: exchange})
	if err != nil {
		return err
	}
	return res.err
}

func (g *generation) pubCall(ctx context.Context, r pubReq) (pubRes, error) {
	r.ctx = ctx
	r.res = make(chan pubRes, 1)
	select {
	case g.pubs <- r:
	case <-g.done:
		return pubRes{}, errGenerationClosed
	case <-ctx.Done():
		return pubRes{}, ctx.Err()
	}
	select {
	case res := <-r.res:
		return res, nil
	case <-g.done:
		return pubRes{}, errGenerationClosed
	case <-ctx.Done():
		return pubRes{}, ctx.Err()
	}
}

// publisher owns the publishing channel, a probe channel for exchange checks, and the
// NotifyReturn chan. Owning the returns here is what makes "was it returned?" exact: the
// broker sends basic.return before basic.ack, and the library hands the return to our
// buffered chan before it processes the ack, so once a worker has seen its confirm, any
// return for it is already in the chan and a non-blocking drain finds it.
func (g *generation) publisher() {
	defer g.owners.Done()
	returns := g.returns
	returned := map[string]bool{} // tokens of returned replies not yet asked about
	known := map[string]bool{}    // exchanges that exist
	var probe *amqp.Channel
	record := func(r amqp.Return, ok bool) {
		if !ok {
			returns = nil
			return
		}
		returned[r.MessageId] = true
	}
	for {
		select {
		case <-g.done:
			return
		case r, ok := <-returns:
			record(r, ok)
		case req := <-g.pubs:
			switch req.op {
			case opPublish:
				dc, err := g.pubCh.PublishWithDeferredConfirmWithContext(req.ctx, req.exchange, req.key, true, false, req.msg)
				req.res <- pubRes{dc: dc, err: err}
			case opWasReturned:
			drain:
				for returns != nil {
					select {
					case r, ok := <-returns:
						record(r, ok)
					default:
						break drain
					}
				}
				tok := req.msg.MessageId
				req.res <- pubRes{returned: returned[tok]}
				delete(returned, tok)
			case opCheckExchange:
				if known[req.exchange] {
					req.res <- pubRes{}
					continue
				}
				var err error
				if probe == nil {
					if probe, err = g.pubConn.Channel(); err != nil {
						probe = nil
						req.res <- pubRes{err: fmt.Errorf("open probe channel: %w", err)}
						continue
					}
				}
				// A passive declare needs no permissions and changes nothing.
				err = probe.ExchangeDeclarePassive(req.exchange, amqp.ExchangeDirect, false, false, false, false, nil)
				var ae *amqp.Error
				switch {
				case err == nil:
					if len(known) >= maxKnownExchanges {
						clear(known)
					}
					known[req.exchange] = true
				case errors.As(err, &ae) && ae.Server && (ae.Code == amqp.NotFound || ae.Code == amqp.AccessRefused):
					// The broker closed the probe channel; this exchange cannot take replies.
					probe = nil
					err = fmt.Errorf("%w: %s", errNoReplyExchange, ae.Reason)
				default:
					probe = nil
				}
				req.res <- pubRes{err: err}
			}
		}
	}
}
