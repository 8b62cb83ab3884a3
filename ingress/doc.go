// Package ingress is the front door of kaas: the CSE-compatible REST API as one http.Handler.
//
// Writes are validated, authorized against the caller's VCD security context and turned into
// commands appended to JetStream; the reply (202 for accepted work) is sent only after the
// command is durable. Reads are answered from the projector's views through [Reader], one
// small interface per concern ([ClusterReader], [OperationReader], [CloudReader],
// [TemplateReader], [HistoryReader]), which deploy wires to package queries; the provider's
// operations on the process itself (replay, stop, running configuration) go through [Admin],
// which deploy implements. The handler knows nothing about AMQP: package vcdext carries VCD's
// API-extension messages to it, and tests call it with httptest.
package ingress
