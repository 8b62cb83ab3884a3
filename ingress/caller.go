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
	// User is the user's URN, urn:vcloud:user:<uuid>, in canonical form (see CanonicalURN).
	User string `json:"user"`
	// Org is the user's organization URN, urn:vcloud:org:<uuid>, in canonical form.
	Org string `json:"org"`
	// Rights are the right URNs or names VCD granted the user.
	Rights []string `json:"rights,omitempty"`
}

// HasRight reports whether the caller holds the right, compared case-insensitively because
// VCD spells rights in both URN and display form.
func (c Caller) HasRight(right string) bool {
	return slices.ContainsFunc(c.Rights, func(r string) bool { return strings.EqualFold(r, right) })
}

// CanonicalURN returns a VCD URN of the given kind ("user", "org") in canonical form, lower
// case, and whether s is one: urn:vcloud:<kind>:<uuid>, the UUID in its 36-character form.
// VCD's URNs do not depend on case, so two spellings of one are the same user or org; the
// edge canonicalises each once, and every comparison after that is exact. A URN already in
// canonical form is returned as is, without allocating.
func CanonicalURN(kind, s string) (string, bool) {
	const scheme = "urn:vcloud:"
	n := len(scheme) + len(kind) + 1
	if len(s) != n+36 || !strings.EqualFold(s[:len(scheme)], scheme) ||
		!strings.EqualFold(s[len(scheme):n-1], kind) || s[n-1] != ':' {
		return "", false
	}
	lower := true
	for i := 0; i < 36; i++ {
		c := s[n+i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			lower = false
		default:
			return "", false
		}
	}
	if lower && s[:len(scheme)] == scheme && s[len(scheme):n-1] == kind {
		return s, true
	}
	return strings.ToLower(s), true
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

// WithRequestID returns a context that carries the VCD request id: with the caller and the
// route, the key that makes a redelivered request find the command its first delivery
// appended.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the VCD request id carried by ctx, if any.
func RequestIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey{}).(string)
	return id, ok && id != ""
}

// providerOnly refuses tenants a route that only providers may use.
func providerOnly(c *call, what string) *reply {
	if c.p.Provider {
		return nil
	}
	r := forbidden(c, "%s is for providers (System org users) only", what)
	return &r
}
