package kaasd_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// The whole path at the edge: what VCD's message says about who calls and what they ask,
// read the one way, by AMQP to kaasd to JetStream.

// raw publishes a message body as VCD would send it, and returns the reply.
func (e *env) raw(body string) *vcdexttest.Resp {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	call, err := e.client.PublishRaw(ctx, []byte(body), vcdexttest.RawProps{})
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := call.Wait(ctx)
	if err != nil {
		e.t.Fatalf("no reply: %v", err)
	}
	return resp
}

// envelope is VCD's message body for a request, with the request object's fields after
// id, method and requestUri, and the security context, each given as JSON object members
// (so that a key can be given twice).
func envelope(id, method, uri, requestMembers, securityContext string) string {
	return fmt.Sprintf(`[{"id":%q,"method":%q,"requestUri":%q,"headers":{"Accept":"application/json;version=36.0"},`+
		`"scheme":"https","protocol":"HTTP/1.1"%s},{%s}]`, id, method, uri, requestMembers, securityContext)
}

// securityContext renders a security context's members.
func securityContext(user, org string, rights ...string) string {
	r, _ := json.Marshal(append([]string{}, rights...))
	return fmt.Sprintf(`"user":%q,"org":%q,"rights":%s`, user, org, r)
}

// cseErrorBody checks that a reply is CSE's error body, as JSON, and returns its values.
func cseErrorBody(t *testing.T, resp *vcdexttest.Resp) (minor int, description string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil || len(body) != 1 || len(body["message"]) != 2 {
		t.Fatalf("%d %s is not CSE's error body (%v)", resp.StatusCode, resp.Body, err)
	}
	code, ok1 := body["message"]["minor error code"].(float64)
	desc, ok2 := body["message"]["error description"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("%d %s is not CSE's error body", resp.StatusCode, resp.Body)
	}
	return int(code), desc
}

// commandsAfter reads the command stream after a sequence.
func (e *env) commandsAfter(seq uint64) []jsstore.Record {
	e.t.Helper()
	var out []jsstore.Record
	err := e.srv.Store().Scan(e.t.Context(), jsstore.ScanFilter{Stream: events.CommandStream, After: seq}, func(r jsstore.Record) bool {
		out = append(out, r)
		return true
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestEnvelopeKeyGivenTwice: an envelope that gives a key twice, anywhere, is refused with
// CSE's error body before anything runs: a second org does not make a tenant a provider, a
// second requestUri does not route the call elsewhere.
func TestEnvelopeKeyGivenTwice(t *testing.T) {
	e := start(t)
	tenant := vcdexttest.DefaultCaller()
	cmds, evts := baseline(t, e)
	create, _ := json.Marshal(inOrg(entity("twice", good, 0, true), "acme"))
	body := fmt.Sprintf(`,"body":%q`, base64.StdEncoding.EncodeToString(create))
	for _, c := range []struct {
		name, env, want string
	}{
		{"org twice, the System org last", envelope("r-org", "GET", "/api/cse/system/config", "",
			securityContext(tenant.User, tenant.Org)+`,"org":"`+ingress.SystemOrg+`"`),
			`key "org" appears twice in securityContext`},
		{"org twice, in other case", envelope("r-org2", "GET", "/api/cse/system/config", "",
			securityContext(tenant.User, tenant.Org)+`,"ORG":"`+ingress.SystemOrg+`"`),
			`key "ORG" appears twice in securityContext (as "org"; names compare without case)`},
		{"requestUri twice", envelope("r-uri", "POST", "/api/cse/3.0/clusters", `,"requestUri":"/api/cse/3.0/clusters"`+body,
			securityContext(tenant.User, tenant.Org, tenant.Rights...)),
			`key "requestUri" appears twice in request`},
		{"a header twice, in other case", strings.Replace(envelope("r-hdr", "POST", "/api/cse/3.0/clusters", body,
			securityContext(tenant.User, tenant.Org, tenant.Rights...)), `"Accept":`, `"accept":"application/json;version=35.0","Accept":`, 1),
			`header "Accept" appears twice in request.headers (as "accept"; names compare without case)`},
		{"a nested key twice", envelope("r-nest", "POST", "/api/cse/3.0/clusters", body+`,"extra":{"a":[{"b":1,"b":2}]}`,
			securityContext(tenant.User, tenant.Org, tenant.Rights...)),
			`key "b" appears twice in request.extra.a[0]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := e.raw(c.env)
			minor, desc := cseErrorBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || minor != cse.MinorDefault || !strings.Contains(desc, "invalid request envelope: "+c.want) {
				t.Errorf("%d (%d, %q), want 400 (-1, ...%s)", resp.StatusCode, minor, desc, c.want)
			}
		})
	}
	if c, ev, err := e.srv.Store().LastSequences(t.Context()); err != nil || c != cmds || ev != evts {
		t.Errorf("commands %d→%d, events %d→%d (%v): refused envelopes appended", cmds, c, evts, ev, err)
	}
	// The same envelopes, each key once, are served.
	if resp := e.raw(envelope("r-ok", "GET", "/api/cse/system/config", "", securityContext(tenant.User, tenant.Org))); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tenant's GET system/config: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := e.raw(envelope("r-ok2", "POST", "/api/cse/3.0/clusters", body, securityContext(tenant.User, tenant.Org, tenant.Rights...))); resp.StatusCode != http.StatusAccepted {
		t.Errorf("create: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestURNCaseIsWhoYouAre: an org's or user's URN in upper case is the same org and user.
func TestURNCaseIsWhoYouAre(t *testing.T) {
	e := start(t)
	code, body := e.do("POST", "/api/cse/3.0/clusters", entity("mine", good, 0, true))
	if code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	id := decode[cse.DefEntity](t, body).ID
	lower := vcdexttest.DefaultCaller()
	upper := ingress.Caller{User: strings.ToUpper(lower.User), Org: strings.ToUpper(lower.Org), Rights: lower.Rights}

	_, body = e.do("GET", "/api/cse/3.0/clusters", nil, withCaller(upper))
	if list := decode[[]cse.DefEntity](t, body); len(list) != 1 || list[0].ID != id {
		t.Errorf("upper-case tenant's list: %s", body)
	}
	if code, body := e.do("GET", "/api/cse/3.0/cluster/"+id, nil, withCaller(upper)); code != http.StatusOK {
		t.Errorf("upper-case tenant's GET: %d %s", code, body)
	}
	// The System org in upper case is the provider, as in lower case.
	upperProvider := ingress.Caller{User: strings.ToUpper(providerCaller.User), Org: strings.ToUpper(ingress.SystemOrg)}
	for _, who := range []ingress.Caller{providerCaller, upperProvider} {
		if code, body := e.do("GET", "/api/cse/system/config", nil, withCaller(who)); code != http.StatusOK {
			t.Errorf("%s: GET system/config %d %s", who.Org, code, body)
		}
		_, body := e.do("GET", "/api/cse/system", nil, withCaller(who))
		if info := decode[cse.SystemInfo](t, body); info.Clusters == nil || *info.Clusters != 1 {
			t.Errorf("%s: system info %s", who.Org, body)
		}
	}
	// A malformed org is refused at the edge: fail closed.
	cmds, _ := baseline(t, e)
	for _, org := range []string{"urn:vcloud:org:acme", "acme", strings.ReplaceAll(lower.Org, "-", "")} {
		resp := e.raw(envelope("r-bad-"+org, "GET", "/api/cse/3.0/clusters", "", securityContext(lower.User, org)))
		minor, desc := cseErrorBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || minor != cse.MinorDefault || !strings.Contains(desc, "is not an org URN") {
			t.Errorf("org %q: %d (%d, %q)", org, resp.StatusCode, minor, desc)
		}
	}
	if c, _ := baseline(t, e); c != cmds {
		t.Errorf("%d commands appended", c-cmds)
	}
}

// TestCreateInAnotherOrgIsRefused: a tenant's create in another org's VDC is refused before
// anything is appended, with the answer a VDC that does not exist gets: whether the other
// org's VDC is enabled or not, or there at all, does not show.
func TestCreateInAnotherOrgIsRefused(t *testing.T) {
	e := start(t)
	asProvider := providerDo(t, e.client)
	globex := withCaller(ingress.Caller{User: "urn:vcloud:user:e4e00000-0000-4000-8000-000000000e4e", Org: globexOrg,
		Rights: []string{"cse:nativeCluster: Full Access"}})
	ask := func(org, vdc string) (int, string) {
		t.Helper()
		ent := inOrg(entity("theirs", good, 0, true), "globex")
		md := ent["metadata"].(map[string]any)
		md["orgName"], md["virtualDataCenterName"] = org, vdc
		code, body := e.do("POST", "/api/cse/3.0/clusters", ent, globex)
		if code != http.StatusBadRequest {
			t.Fatalf("create in %s/%s: %d %s", org, vdc, code, body)
		}
		return code, string(body)
	}
	cmds, evts := baseline(t, e)
	_, enabled := ask("acme", "acme-vdc")
	_, missing := ask("acme", "no-such-vdc")
	_, unknownOrg := ask("initech", "acme-vdc")
	_, ownMissing := ask("globex", "acme-vdc")
	if c, ev, _ := e.srv.Store().LastSequences(t.Context()); c != cmds || ev != evts {
		t.Fatalf("refused creates appended %d commands, %d events", c-cmds, ev-evts)
	}
	// The provider disables acme's VDC; the answer to globex does not change.
	_, body := asProvider("GET", "/api/cse/3.0/ovdcs", nil)
	for _, d := range decode[[]cse.Ovdc](t, body) {
		if d.OrgName == "acme" {
			code, body := asProvider("PUT", "/api/cse/3.0/ovdc/"+d.ID, cse.OvdcUpdate{K8sRuntime: []string{}, OrgName: "acme", OvdcName: d.Name})
			if code != http.StatusAccepted {
				t.Fatalf("disable: %d %s", code, body)
			}
		}
	}
	kaasdtest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, body := asProvider("GET", "/api/cse/3.0/ovdcs", nil)
		for _, d := range decode[[]cse.Ovdc](t, body) {
			if d.OrgName == "acme" && d.Name == "acme-vdc" && len(d.K8sRuntime) == 0 {
				return nil
			}
		}
		return fmt.Errorf("acme-vdc is not disabled: %s", body)
	})
	cmds, evts = baseline(t, e)
	_, disabled := ask("acme", "acme-vdc")
	if disabled != enabled {
		t.Errorf("another org's enabled and disabled VDC answer differently:\n%s\n%s", enabled, disabled)
	}
	names := func(s string) string {
		for _, n := range []string{"acme-vdc", "no-such-vdc", "acme", "initech", "globex"} {
			s = strings.ReplaceAll(s, "'"+n+"'", "'<name>'")
		}
		return s
	}
	for _, other := range []string{missing, unknownOrg, ownMissing} {
		if names(other) != names(enabled) {
			t.Errorf("answers differ beyond the names asked for:\n%s\n%s", other, enabled)
		}
	}
	var rej cse.Error
	if err := json.Unmarshal([]byte(enabled), &rej); err != nil || rej.Message.MinorErrorCode != cse.MinorOvdcNameInvalid {
		t.Errorf("refusal %s", enabled)
	}
	if c, ev, _ := e.srv.Store().LastSequences(t.Context()); c != cmds || ev != evts {
		t.Fatalf("refused creates appended %d commands, %d events", c-cmds, ev-evts)
	}
	// In its own org, globex creates.
	code, body := e.do("POST", "/api/cse/3.0/clusters", inOrg(entity("ours", good, 0, true), "globex"), globex)
	if code != http.StatusAccepted {
		t.Fatalf("create in its own org: %d %s", code, body)
	}
}

// TestReusedRequestID: VCD's request id, reused by another caller, gets that caller its own
// answer; the same request delivered twice is answered the same and appended once.
func TestReusedRequestID(t *testing.T) {
	e := start(t)
	cmds, _ := baseline(t, e)
	acme := vcdexttest.DefaultCaller()
	globex := ingress.Caller{User: "urn:vcloud:user:e4e00000-0000-4000-8000-000000000e4e", Org: globexOrg, Rights: acme.Rights}
	const reqID = "vcd-req-reused"
	_, first := e.do("POST", "/api/cse/3.0/clusters", entity("first", good, 0, true), withRequestID(reqID), withCaller(acme))
	code, second := e.do("POST", "/api/cse/3.0/clusters", inOrg(entity("second", good, 0, true), "globex"), withRequestID(reqID), withCaller(globex))
	if code != http.StatusAccepted {
		t.Fatalf("second caller: %d %s", code, second)
	}
	a, b := decode[cse.DefEntity](t, first), decode[cse.DefEntity](t, second)
	if a.ID == b.ID || a.Entity.Status.Kaas.OperationID == b.Entity.Status.Kaas.OperationID || b.Name != "second" || b.Org.ID != globexOrg {
		t.Fatalf("the second caller got the first's answer:\n%s\n%s", first, second)
	}
	code, again := e.do("POST", "/api/cse/3.0/clusters", entity("first", good, 0, true), withRequestID(reqID), withCaller(acme))
	if code != http.StatusAccepted || string(again) != string(first) {
		t.Fatalf("redelivery: %d\n%s\n%s", code, again, first)
	}
	recs := e.commandsAfter(cmds)
	if len(recs) != 2 {
		t.Fatalf("%d commands appended, want 2", len(recs))
	}
	for i, want := range []cse.DefEntity{a, b} {
		r := recs[i]
		if r.Envelope.ID != want.Entity.Status.Kaas.OperationID || r.MsgID != r.Envelope.ID || r.Envelope.CorrelationID != reqID ||
			cse.EntityID(r.Envelope.ClusterID) != want.ID || r.Envelope.OrgID != want.Org.ID {
			t.Errorf("command %d: id %s msg id %s correlation %s cluster %s org %s", i, r.Envelope.ID, r.MsgID, r.Envelope.CorrelationID,
				r.Envelope.ClusterID, r.Envelope.OrgID)
		}
	}
	e.waitPhase(a.ID)
	e.waitPhaseAs(b.ID, globex)
	if c, _ := baseline(t, e); c != cmds+2 {
		t.Errorf("%d commands in all, want 2", c-cmds)
	}
}

// TestProviderChangesCarryTheClusterOrg: a provider's changes to a tenant's cluster are
// commands of the tenant's org, done by the provider; afterwards the provider lists each
// cluster once, and GET /api/cse/system counts them exactly.
func TestProviderChangesCarryTheClusterOrg(t *testing.T) {
	e := start(t)
	asProvider := providerDo(t, e.client)
	var ids []string
	for _, name := range []string{"kept", "forced"} {
		code, body := e.do("POST", "/api/cse/3.0/clusters", entity(name, good, 0, true))
		if code != http.StatusAccepted {
			t.Fatalf("%d %s", code, body)
		}
		ids = append(ids, decode[cse.DefEntity](t, body).ID)
		e.waitPhase(ids[len(ids)-1])
	}
	cmds, _ := baseline(t, e)
	_, body := asProvider("GET", "/api/cse/3.0/cluster/"+ids[0]+"/acl", nil)
	acl := decode[cse.Page[map[string]any]](t, body)
	if code, body := asProvider("PUT", "/api/cse/3.0/cluster/"+ids[0]+"/acl", map[string]any{"accessSetting": acl.Values}); code != http.StatusNoContent {
		t.Fatalf("provider's ACL: %d %s", code, body)
	}
	if code, body := asProvider("POST", "/api/cse/3.0/cluster/"+ids[1]+"/action/force-delete", nil); code != http.StatusAccepted {
		t.Fatalf("provider's force delete: %d %s", code, body)
	}
	e.waitGone(ids[1])
	recs := e.commandsAfter(cmds)
	if len(recs) != 2 {
		t.Fatalf("%d commands, want 2", len(recs))
	}
	for _, r := range recs {
		if r.Envelope.OrgID != acmeOrg || r.Envelope.Actor != providerCaller.User {
			t.Errorf("%s filed as org %s actor %s; want %s and %s", r.Envelope.Type, r.Envelope.OrgID, r.Envelope.Actor, acmeOrg, providerCaller.User)
		}
	}
	_, body = asProvider("GET", "/api/cse/3.0/clusters", nil)
	if list := decode[[]cse.DefEntity](t, body); len(list) != 1 || list[0].ID != ids[0] {
		t.Errorf("provider's list: %s", body)
	}
	_, body = asProvider("GET", "/api/cse/system", nil)
	if info := decode[cse.SystemInfo](t, body); info.Clusters == nil || *info.Clusters != 1 {
		t.Errorf("system info: %s", body)
	}
	_, body = e.do("GET", "/api/cse/3.0/clusters", nil)
	if list := decode[[]cse.DefEntity](t, body); len(list) != 1 || list[0].ID != ids[0] {
		t.Errorf("tenant's list: %s", body)
	}
}
