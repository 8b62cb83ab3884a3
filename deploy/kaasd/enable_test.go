package kaasd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// providerCaller is a System org user, as VCD's security context names one.
var providerCaller = ingress.Caller{User: "urn:vcloud:user:9d1c7c3e-0000-4000-8000-00000000aaaa", Org: ingress.SystemOrg}

// baseline is how many commands and events the store holds once setup is done.
func baseline(t *testing.T, e *env) (cmds, evts uint64) {
	t.Helper()
	cmds, evts, err := e.srv.Store().LastSequences(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cmds, evts
}

// providerDo is enableVDCs's asProvider over a VCD-shaped AMQP client.
func providerDo(t *testing.T, c *vcdexttest.Client) func(method, path string, body any) (int, []byte) {
	return func(method, path string, body any) (int, []byte) {
		t.Helper()
		req := vcdexttest.Req{Method: method, Path: path, Caller: providerCaller}
		if body != nil {
			req.Body, _ = json.Marshal(body)
		}
		// kaasd may not consume yet: until it does, the broker cannot route the request.
		var resp *vcdexttest.Resp
		kaasdtest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var err error
			if resp, err = c.Do(ctx, req); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
			return nil
		})
		return resp.StatusCode, resp.Body
	}
}
