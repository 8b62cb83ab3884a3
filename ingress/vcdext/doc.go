// Package vcdext carries VMware Cloud Director API-extension calls from RabbitMQ to an
// [http.Handler] and carries the answers back.
//
// VCD forwards every HTTP call under /api/cse/... to the extension's exchange as an AMQP
// message whose body is the JSON array [request, securityContext]. A [Consumer] decodes it
// ([DecodeRequest], [Request.HTTPRequest]), puts the security context on the request's context
// as an [ingress.Caller], runs the handler against an in-memory response writer, and publishes
// the reply to the exchange named by the replyToExchange header with the reply_to routing key
// and the request's correlation_id, in the JSON shape CSE used (see cse-protocol.md §1.2).
//
// Delivery contract: a message is acked only after the handler has returned and its reply has
// been confirmed by the broker. If RabbitMQ goes away first, the message is not acked, the
// broker redelivers it, and the handler, which must be idempotent by request id, runs again.
// Malformed messages get a 400 reply and are acked, so they cannot wedge the queue; messages
// that cannot be answered at all (no reply address) are rejected without requeue so that a
// dead-letter policy can catch them. Acks are batched: one acker goroutine sends a single
// multiple ack for a run of answered deliveries below the lowest one still in flight, and
// acks those above it singly after a short wait, so a multiple ack never covers a delivery
// that is still being handled.
//
// The consumer owns its reconnect loop (amqp091-go's Config.Recovery stays nil): each
// generation has its own consuming and publishing connections, and acks from an old
// generation are dropped rather than sent on a new channel where the delivery tags mean other
// messages. Package vcdexttest plays VCD for tests and benchmarks.
package vcdext
