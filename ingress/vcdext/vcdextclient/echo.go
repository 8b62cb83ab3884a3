package vcdextclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// echoBody is the default answer: a 202 with a small JSON body, like an accepted command.
const echoBody = `{"message":"accepted"}`

// EchoBody returns the reply body [RunEchoSize] sends for bodySize: exactly bodySize bytes
// of JSON when bodySize is at least 22, else {"message":"accepted"}.
func EchoBody(bodySize int) []byte {
	const head, padHead, padTail = `{"message":"accepted"`, `,"padding":"`, `"}`
	switch {
	case bodySize <= len(echoBody):
		return []byte(echoBody)
	case bodySize < len(head)+len(padHead)+len(padTail):
		return []byte(head + strings.Repeat(" ", bodySize-len(head)-1) + "}")
	}
	return []byte(head + padHead + strings.Repeat("x", bodySize-len(head)-len(padHead)-len(padTail)) + padTail)
}

// RunEcho is the benchmark ceiling: an extension with vcdext's topology (durable direct
// exchange, durable queue named routingKey) and reply protocol, publisher confirms and
// ack-after-confirm, but no handler work. Every request gets the same 202 with the 22-byte
// body {"message":"accepted"}. Requests without a reply address are rejected. It returns nil
// when ctx ends and an error if the broker goes away; it does not reconnect.
func RunEcho(ctx context.Context, url, exchange, routingKey string, prefetch int) error {
	return RunEchoSize(ctx, url, exchange, routingKey, prefetch, 0)
}

// RunEchoSize is [RunEcho] with a reply body of bodySize bytes, so that the ceiling can
// carry an answer as large as the extension it is compared with (kaas's 202 carries about
// 2 KB). The body is JSON: {"message":"accepted"} with a padding field, or with trailing
// blanks where a field does not fit. A bodySize below 22 gives RunEcho's body.
func RunEchoSize(ctx context.Context, url, exchange, routingKey string, prefetch, bodySize int) error {
	replyBody := EchoBody(bodySize)
	consConn, err := Dial(url, "vcdextclient-echo-consume")
	if err != nil {
		return fmt.Errorf("vcdextclient echo: %w", err)
	}
	defer consConn.Close()
	pubConn, err := Dial(url, "vcdextclient-echo-publish")
	if err != nil {
		return fmt.Errorf("vcdextclient echo: %w", err)
	}
	defer pubConn.Close()

	cons, err := consConn.Channel()
	if err != nil {
		return fmt.Errorf("vcdextclient echo: %w", err)
	}
	if err := cons.ExchangeDeclare(exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("vcdextclient echo: declare exchange: %w", err)
	}
	if _, err := cons.QueueDeclare(routingKey, true, false, false, false, nil); err != nil {
		return fmt.Errorf("vcdextclient echo: declare queue: %w", err)
	}
	if err := cons.QueueBind(routingKey, routingKey, exchange, false, nil); err != nil {
		return fmt.Errorf("vcdextclient echo: bind: %w", err)
	}
	if err := cons.Qos(prefetch, 0, false); err != nil {
		return fmt.Errorf("vcdextclient echo: qos: %w", err)
	}
	pub, err := pubConn.Channel()
	if err != nil {
		return fmt.Errorf("vcdextclient echo: %w", err)
	}
	if err := pub.Confirm(false); err != nil {
		return fmt.Errorf("vcdextclient echo: confirm: %w", err)
	}
	returns := pub.NotifyReturn(make(chan amqp.Return, 16))
	go func() {
		for range returns { // unroutable replies are dropped, but the chan must be drained
		}
	}()
	deliveries, err := cons.Consume(routingKey, "vcdextclient-echo", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("vcdextclient echo: consume: %w", err)
	}

	// The acker owns the consuming channel and acks in order, each after its reply's confirm,
	// so the pipeline stays as full as the prefetch allows.
	type pending struct {
		d  amqp.Delivery
		dc *amqp.DeferredConfirmation // nil: reject
	}
	acks := make(chan pending, max(prefetch, 1))
	ackerErr := make(chan error, 1)
	go func() {
		for p := range acks {
			var err error
			if p.dc == nil {
				err = p.d.Reject(false)
			} else if p.dc.Wait() {
				err = p.d.Ack(false)
			} else {
				err = errors.New("reply nacked")
			}
			if err != nil {
				ackerErr <- err
				for range acks {
				}
				return
			}
		}
		ackerErr <- nil
	}()
	defer func() { close(acks); <-ackerErr }()

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ackerErr:
			ackerErr <- err // for the deferred receive
			return fmt.Errorf("vcdextclient echo: ack: %w", err)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("vcdextclient echo: deliveries closed")
			}
			ex, _ := d.Headers["replyToExchange"].(string)
			if ex == "" || d.ReplyTo == "" {
				acks <- pending{d: d}
				continue
			}
			var env []struct {
				ID string `json:"id"`
			}
			id := d.CorrelationId
			if json.Unmarshal(d.Body, &env) == nil && len(env) > 0 && env[0].ID != "" {
				id = env[0].ID
			}
			body, _ := json.Marshal(map[string]any{
				"id": id, "statusCode": 202, "request": false,
				"headers": map[string]any{"Content-Type": "application/json", "Content-Length": len(replyBody)},
				"body":    replyBody,
			})
			dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, ex, d.ReplyTo, true, false, amqp.Publishing{
				ContentType: "application/json", CorrelationId: d.CorrelationId,
				Headers: amqp.Table{"messageType": MessageTypeResponse}, Body: body,
			})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("vcdextclient echo: publish: %w", err)
			}
			acks <- pending{d: d, dc: dc}
		}
	}
}
