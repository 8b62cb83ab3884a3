package kaasd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// providerCaller is a System org user, as VCD's security context names one.
var providerCaller = ingress.Caller{User: "urn:vcloud:user:9d1c7c3e-0000-4000-8000-00000000aaaa", Org: ingress.SystemOrg}

// enableVDCs does what a provider does before tenants can create clusters: it waits until
// kaas has read VCD's org VDCs, then enables every one for native Kubernetes. asProvider
// makes one API call as a provider.
func enableVDCs(t *testing.T, asProvider func(method, path string, body any) (int, []byte)) {
	t.Helper()
	var vdcs []cse.Ovdc
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body := asProvider("GET", "/api/cse/3.0/ovdcs", nil)
		if code == http.StatusOK && json.Unmarshal(body, &vdcs) == nil && len(vdcs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kaas never listed VCD's org VDCs: %d %s", code, body)
		}
	}
	for _, d := range vdcs {
		code, body := asProvider("PUT", "/api/cse/3.0/ovdc/"+d.ID, cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: d.OrgName, OvdcName: d.Name})
		var task struct {
			Href string `json:"task_href"`
		}
		if code != http.StatusAccepted || json.Unmarshal(body, &task) != nil {
			t.Fatalf("enable %s of %s: %d %s", d.Name, d.OrgName, code, body)
		}
		// Wait until an executor recorded it, so that tests counting records start from a
		// quiet store.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, body := asProvider("GET", task.Href, nil)
			var op cse.Operation
			if json.Unmarshal(body, &op) == nil && op.Status == "SUCCEEDED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("enabling %s never ended: %s", d.Name, body)
			}
		}
	}
}

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
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			resp, err := c.Do(ctx, req)
			cancel()
			if err == nil {
				return resp.StatusCode, resp.Body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
	}
}
