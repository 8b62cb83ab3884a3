package kaasctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vbauerster/mpb/v8"
	"sigs.k8s.io/yaml"
)

func TestParseAPIError(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"CSE's error body", `{"message": {"minor error code": 4016, "error description": "org name is missing"}}`, 400,
			"org name is missing (HTTP 400, minor code 4016)"},
		{"CSE's default minor code", `{"message": {"minor error code": -1, "error description": "cluster x not found"}}`, 404,
			"cluster x not found (HTTP 404)"},
		{"a plain message", `{"message": "CSE service is disabled."}`, 400, "CSE service is disabled. (HTTP 400)"},
		{"not JSON", `<html>bad gateway</html>`, 502, "<html>bad gateway</html> (HTTP 502)"},
		{"empty", ``, 503, "Service Unavailable (HTTP 503)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAPIError(tt.status, []byte(tt.body)).Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vcd.example.com", "https://vcd.example.com"},
		{"https://vcd.example.com/", "https://vcd.example.com"},
		{"https://vcd.example.com/api", "https://vcd.example.com"},
		{"https://vcd.example.com:8443/api/", "https://vcd.example.com:8443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"ftp://vcd", ""},
		{"https://", ""},
	}
	for _, tt := range tests {
		got, err := normalizeURL(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Every string the sample writes reads back as the same string.
func TestYAMLString(t *testing.T) {
	for _, s := range []string{"acme", "yes", "no", "null", "1", "1.29", "a: b", "#x", "https://vcd:8443", "it's", `q"uote`, "", " lead", "ubuntu-22.04_k8s-1.29"} {
		var got map[string]any
		if err := yaml.Unmarshal([]byte("v: "+yamlString(s)+"\n"), &got); err != nil || got["v"] != s {
			t.Errorf("%q written as %s reads back as %#v (%v)", s, yamlString(s), got["v"], err)
		}
	}
}

func TestSubset(t *testing.T) {
	have := map[string]any{"topology": map[string]any{"workers": map[string]any{"count": 2.0, "cpu": nil}}, "settings": map[string]any{"sshKey": nil}}
	tests := []struct {
		name string
		want any
		is   bool
	}{
		{"same", map[string]any{"topology": map[string]any{"workers": map[string]any{"count": 2.0}}}, true},
		{"left out and null are the server's", map[string]any{"settings": nil, "topology": map[string]any{"workers": nil}}, true},
		{"a count changed", map[string]any{"topology": map[string]any{"workers": map[string]any{"count": 3.0}}}, false},
		{"a new field", map[string]any{"settings": map[string]any{"sshKey": "ssh-ed25519 AAAA"}}, false},
	}
	for _, tt := range tests {
		if got := subset(tt.want, have); got != tt.is {
			t.Errorf("%s: subset = %v", tt.name, got)
		}
	}
}

// fakeCSE answers GET clusters with the given clusters, as a provider sees several orgs.
func fakeCSE(t *testing.T, clusters string) *Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Accept") != acceptCSE {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(clusters))
	}))
	t.Cleanup(ts.Close)
	return NewClient(ts.URL, "tok", ts.Client())
}

func TestResolveCluster(t *testing.T) {
	c := fakeCSE(t, `[
		{"id": "urn:vcloud:entity:cse:nativeCluster:1", "name": "web", "entity": {"metadata": {"orgName": "acme", "virtualDataCenterName": "v1"}}},
		{"id": "urn:vcloud:entity:cse:nativeCluster:2", "name": "web", "entity": {"metadata": {"orgName": "beta", "virtualDataCenterName": "v2"}}},
		{"id": "urn:vcloud:entity:cse:nativeCluster:3", "name": "db", "entity": {"metadata": {"orgName": "acme", "virtualDataCenterName": "v1"}}}]`)
	tests := []struct{ arg, id, err string }{
		{arg: "db", id: "urn:vcloud:entity:cse:nativeCluster:3"},
		{arg: "DB", id: "urn:vcloud:entity:cse:nativeCluster:3"},
		{arg: "urn:vcloud:entity:cse:nativeCluster:9", id: "urn:vcloud:entity:cse:nativeCluster:9"},
		{arg: "web", err: "2 clusters are named web: give the id of one of urn:vcloud:entity:cse:nativeCluster:1 (org acme, VDC v1), urn:vcloud:entity:cse:nativeCluster:2 (org beta, VDC v2)"},
		{arg: "nope", err: "cluster nope not found"},
	}
	for _, tt := range tests {
		id, err := resolveCluster(context.Background(), c, tt.arg)
		if id != tt.id || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("resolve %q = %q, %v; want %q, %q", tt.arg, id, err, tt.id, tt.err)
		}
	}
	if _, err := resolveCluster(context.Background(), NewClient(c.base, "other", c.hc), "db"); err == nil || !strings.Contains(err.Error(), ErrSession.Error()) {
		t.Errorf("a 401 should say to log in again: %v", err)
	}
}

// The terminal progress bar takes updates from the poller while mpb renders: each step is
// drawn at the next refresh, and the end at 100 %. The clock is synctest's, so that a
// refresh passes between two updates at once and for certain.
func TestBarProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		p := newBarProgress(t.Context(), &buf, mpb.ForceTTY(), mpb.WithAutoRefresh(), mpb.WithWidth(100)) // as on a terminal 100 wide
		steps := []string{"VAppCreated", "NodeCreated", "NodeStarted"}
		for i, step := range steps {
			p.update(Operation{Operation: "CreateCluster", Status: "RUNNING", Step: step, Percent: i * 40})
			time.Sleep(time.Second) // longer than a refresh: mpb draws the step
		}
		p.done(Operation{Operation: "CreateCluster", Status: "SUCCEEDED", Step: "ClusterCreated", Percent: 100})
		out := buf.String()
		for _, step := range steps {
			if !strings.Contains(out, "CreateCluster "+step) {
				t.Errorf("step %s was never drawn: %q", step, out)
			}
		}
		if !strings.Contains(out, "CreateCluster ClusterCreated") || !strings.Contains(out, "100 %") {
			t.Errorf("bar output: %q", out)
		}
	})
}

func TestAllPages(t *testing.T) {
	pages := []string{
		`{"resultTotal": 3, "pageCount": 2, "page": 1, "pageSize": 2, "values": [{"memberId": "a", "extra": 1}, {"memberId": "b"}]}`,
		`{"resultTotal": 3, "pageCount": 2, "page": 2, "pageSize": 2, "values": [{"memberId": "c"}]}`,
	}
	r, err := allPages(context.Background(), func(_ context.Context, p int) (Reply[Page[ACLEntry]], error) {
		var out Reply[Page[ACLEntry]]
		out.Raw = json.RawMessage(pages[p-1])
		return out, json.Unmarshal(out.Raw, &out.Value)
	})
	if err != nil || len(r.Value.Values) != 3 || r.Value.Values[2].MemberID != "c" {
		t.Fatalf("%+v %v", r.Value, err)
	}
	// What the API wrote is kept, fields kaasctl does not know included.
	if !strings.Contains(string(r.Raw), `{"memberId":"a","extra":1}`) || !strings.Contains(string(r.Raw), `"resultTotal":3`) {
		t.Errorf("raw: %s", r.Raw)
	}
}

func TestParseMoment(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-11-01T00:00:00Z", want: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-11-01T01:00:00.5+01:00", want: time.Date(2026, 11, 1, 0, 0, 0, 5e8, time.UTC)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "0s", want: now},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "yesterday", bad: true},
		{in: "-1h", bad: true},
		{in: "-2d", bad: true},
		{in: "2026-11-01", bad: true},
		{in: "", bad: true},
	} {
		got, err := parseMoment(c.in, now)
		if (err != nil) != c.bad || (!c.bad && !got.Equal(c.want)) {
			t.Errorf("%q: %v, %v; want %v (bad %v)", c.in, got, err, c.want, c.bad)
		}
	}
}
