package ingress

import (
	"context"
	"slices"
	"strings"
)

// Caller is who VCD says is making a request: the security context that VCD sends with every
// API-extension message. VCD has already authenticated the user; kaas trusts this and never
// calls VCD back to re-check it.
type Caller struct {
	// User is the user's URN, urn:vcloud:user:<uuid>.
	User string `json:"user"`
	// Org is the user's organization URN, urn:vcloud:org:<uuid>.
	Org string `json:"org"`
	// Rights are the right URNs or names VCD granted the user.
	Rights []string `json:"rights,omitempty"`
}

// HasRight reports whether the caller holds the right, compared case-insensitively because
// VCD spells rights in both URN and display form.
func (c Caller) HasRight(right string) bool {
	return slices.ContainsFunc(c.Rights, func(r string) bool { return strings.EqualFold(r, right) })
}

type callerKey struct{}

// WithCaller returns a context that carries the caller. Transports (the AMQP adapter, tests)
// call it before handing a request to the API handler.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller carried by ctx, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

type requestIDKey struct{}

// WithRequestID returns a context that carries the VCD request id, the key that makes a
// redelivered request find the command its first delivery appended.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the VCD request id carried by ctx, if any.
func RequestIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey{}).(string)
	return id, ok && id != ""
}
