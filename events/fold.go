package events

// Fold is an aggregate's table of appliers, one per event type: Apply looks the payload's
// type up and calls the method that folds it. Both aggregates (events/cluster,
// events/template) build theirs with On, so that a key cannot be mistyped.
type Fold[S any] map[string]func(S, Envelope)

// Applier is one entry of a Fold: a fold of one payload type, keyed by its event type.
type Applier[S any] struct {
	typ   string
	apply func(S, Envelope)
}

// On makes f, which folds events of payload type P, an Applier keyed by P's event type. A
// payload of another Go type (a pointer, say) is left alone, as a type switch would.
func On[S any, P Payload](f func(S, Envelope, P)) Applier[S] {
	var zero P
	return Applier[S]{typ: zero.Type(), apply: func(s S, e Envelope) {
		if p, ok := e.Payload.(P); ok {
			f(s, e, p)
		}
	}}
}

// NewFold makes the table; two appliers of one event type are a programming error.
func NewFold[S any](as ...Applier[S]) Fold[S] {
	m := make(Fold[S], len(as))
	for _, a := range as {
		if _, dup := m[a.typ]; dup {
			panic("events: two appliers of " + a.typ)
		}
		m[a.typ] = a.apply
	}
	return m
}

// Apply folds e into s with the applier of its type, if there is one.
func (f Fold[S]) Apply(s S, e Envelope) {
	if e.Payload == nil {
		return
	}
	if apply, ok := f[e.Payload.Type()]; ok {
		apply(s, e)
	}
}
