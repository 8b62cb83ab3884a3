// Package vcdextclient plays VMware Cloud Director's side of the API-extension protocol:
// `kaasd call` uses it to send one request to a running kaasd as VCD would, kaas-bench to
// load one, and the tests of package vcdext and of anything served through it to drive one.
//
// [Client] publishes requests exactly as VCD does (body [request, securityContext],
// correlation_id, reply_to, headers replyToExchange and messageType, persistent delivery) to
// the extension's exchange, and collects replies from its own auto-deleted reply exchange and
// exclusive queue, matching them by correlation id. [RunEcho] is a bare request-reply server
// with the same topology and reply format and no handler work: the ceiling against which the
// real consumer is benchmarked; [RunEchoSize] makes its reply as large as the consumer's.
// [Load] drives either with concurrent callers.
//
// It fakes only the AMQP leg: nothing here authenticates users, enforces VCD's 10 s timeout,
// or turns replies into HTTP responses. It is no test support (a shipped binary links it, and
// so it never imports package testing): the helpers that fail a test are in vcdexttest.
package vcdextclient
