package natstest_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events/natstest"
)

// TestStartWith: the options a test sets are the server's (here, a user): a connection
// without the user is refused, one with it reaches JetStream.
func TestStartWith(t *testing.T) {
	s := natstest.StartWith(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "kaas", Password: "pw"}}
	})
	if nc, err := nats.Connect(s.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("connect without the user: %v, want %v", err, nats.ErrAuthorization)
	}
	js, err := jetstream.New(s.Connect(t, nats.UserInfo("kaas", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream as the user: %v", err)
	}
}
