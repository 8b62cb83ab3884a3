package vcdext

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// maxKnownExchanges bounds the cache of checked reply exchanges. VCD uses one.
const maxKnownExchanges = 1024

type pubOp int

const (
	opPublish       pubOp = iota
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
	dc  *amqp.DeferredConfirmation
	err error
}

// publish sends one reply with mandatory set and waits for its confirm, all within
// PublishTimeout. returned reports that the broker could not route it (basic.return).
// bodyFree reports that the publisher is done with msg.Body, so that it may be reused;
// it is false when the worker stopped waiting for the publisher.
func (g *generation) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) (returned, bodyFree bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.c.cfg.PublishTimeout)
	defer cancel()
	// The token matches a basic.return to this reply; VCD ignores message_id.
	msg.MessageId = g.tag + "-" + strconv.FormatUint(g.seq.Add(1), 10)
	res, err := g.pubCall(ctx, pubReq{op: opPublish, exchange: exchange, key: key, msg: msg})
	if err != nil {
		return false, false, err
	}
	if res.err != nil {
		return false, true, res.err
	}
	if res.dc == nil {
		return false, true, errors.New("publishing channel is not in confirm mode")
	}
	acked, err := res.dc.WaitContext(ctx)
	if err != nil {
		return false, true, fmt.Errorf("wait for confirm: %w", err)
	}
	if !acked {
		return false, true, errors.New("broker nacked the reply or the channel closed")
	}
	return g.wasReturned(msg.MessageId), true, nil
}

// wasReturned reports whether the reply with token tok came back as a basic.return. Call it
// only after the reply's confirm: the broker sends basic.return before basic.ack, and the
// library hands the return to our buffered chan before it processes the ack, so by now the
// return is in the chan, or in the map if another worker drained the chan first. Nobody
// takes from the chan without holding retMu, so nothing is in between.
//
// Only workers drain the chan, each after its confirm. That keeps it from filling: each
// return belongs to a reply whose worker is waiting for its confirm or has failed the
// generation, so there are at most Workers undrained returns, and the chan holds
// Workers+1.
func (g *generation) wasReturned(tok string) bool {
	g.retMu.Lock()
	defer g.retMu.Unlock()
drain:
	for {
		select {
		case r, ok := <-g.returns:
			if !ok {
				break drain
			}
			g.returned[r.MessageId] = true
		default:
			break drain
		}
	}
	if !g.returned[tok] {
		return false
	}
	delete(g.returned, tok)
	return true
}

// knownExchange reports whether the publisher has seen that exchange exist.
func (g *generation) knownExchange(exchange string) bool {
	g.knownMu.RLock()
	_, ok := g.known[exchange]
	g.knownMu.RUnlock()
	return ok
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

// publisher owns the publishing channel and a probe channel for exchange checks. The
// NotifyReturn chan is the workers' (see wasReturned).
func (g *generation) publisher() {
	defer g.owners.Done()
	var probe *amqp.Channel
	for {
		select {
		case <-g.done:
			return
		case req := <-g.pubs:
			switch req.op {
			case opPublish:
				dc, err := g.pubCh.PublishWithDeferredConfirmWithContext(req.ctx, req.exchange, req.key, true, false, req.msg)
				req.res <- pubRes{dc: dc, err: err}
			case opCheckExchange:
				if g.knownExchange(req.exchange) {
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
					g.knownMu.Lock()
					if len(g.known) >= maxKnownExchanges {
						clear(g.known)
					}
					g.known[req.exchange] = struct{}{}
					g.knownMu.Unlock()
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
