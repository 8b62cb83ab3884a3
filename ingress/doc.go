// Package ingress is the front door of kaas: the CSE-compatible REST API as one http.Handler.
//
// Writes are validated, authorized against the caller's VCD security context and turned into
// commands appended to JetStream; the reply (202 for accepted work) is sent only after the
// command is durable. Reads are answered from the projector's views through the [Reader]
// interface, which deploy wires to package queries. The handler knows nothing about AMQP:
// package vcdext carries VCD's API-extension messages to it, and tests call it with httptest.
package ingress
