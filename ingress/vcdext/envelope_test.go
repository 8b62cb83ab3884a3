package vcdext_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
)

// vcdExample is the reconstructed request from cse-protocol.md §1.2, with a real body.
const vcdExample = `[{"id":"6f0c9a4e-1111-4b7d-9a51-000000000001","method":"POST","requestUri":"/api/cse/3.0/clusters","queryString":null,
  "headers":{"Accept":"application/json;version=36.0","Authorization":"Bearer eyJ","Content-Type":"application/json","Host":"vcd.example.com"},
  "body":"eyJuYW1lIjoiYzEifQ==","scheme":"https","protocol":"HTTP/1.1","request":true,"statusCode":0,
  "localAddr":"10.0.0.5","localPort":443,"remoteAddr":"10.1.2.3","remotePort":53211},
 {"user":"urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11","org":"urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22","rights":["urn:vcloud:right:r1","urn:vcloud:right:r2"]}]`

// The security context's user and org, in canonical form.
const (
	testUser = "urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11"
	testOrg  = "urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22"
)

const secCtx = `{"user":"` + testUser + `","org":"` + testOrg + `","rights":[]}`

func TestDecodeRequestVCDExample(t *testing.T) {
	r, err := vcdext.DecodeRequest([]byte(vcdExample))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	want := &vcdext.Request{
		ID: "6f0c9a4e-1111-4b7d-9a51-000000000001", Method: "POST", RequestURI: "/api/cse/3.0/clusters",
		Header: http.Header{
			"Accept": {"application/json;version=36.0"}, "Authorization": {"Bearer eyJ"},
			"Content-Type": {"application/json"}, "Host": {"vcd.example.com"},
		},
		Body:   []byte(`{"name":"c1"}`),
		Scheme: "https", Protocol: "HTTP/1.1",
		LocalAddr: "10.0.0.5", LocalPort: 443, RemoteAddr: "10.1.2.3", RemotePort: 53211,
		Caller: ingress.Caller{User: "urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11", Org: "urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22", Rights: []string{"urn:vcloud:right:r1", "urn:vcloud:right:r2"}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("DecodeRequest:\n got %+v\nwant %+v", r, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hr, err := r.HTTPRequest(ctx)
	if err != nil {
		t.Fatalf("HTTPRequest: %v", err)
	}
	body, _ := io.ReadAll(hr.Body)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Method", hr.Method, "POST"},
		{"URL", hr.URL.String(), "/api/cse/3.0/clusters"},
		{"RequestURI", hr.RequestURI, "/api/cse/3.0/clusters"},
		{"Host", hr.Host, "vcd.example.com"},
		{"Host header removed", hr.Header.Get("Host"), ""},
		{"Accept", hr.Header.Get("Accept"), "application/json;version=36.0"},
		{"RemoteAddr", hr.RemoteAddr, "10.1.2.3:53211"},
		{"Proto", hr.Proto, "HTTP/1.1"},
		{"ContentLength", hr.ContentLength, int64(13)},
		{"Body", string(body), `{"name":"c1"}`},
		{"ctx", hr.Context().Done() != nil, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	caller, ok := ingress.CallerFrom(hr.Context())
	if !ok || !reflect.DeepEqual(caller, want.Caller) {
		t.Errorf("CallerFrom = %+v, %v; want %+v", caller, ok, want.Caller)
	}
	rb, err := hr.GetBody()
	if err != nil {
		t.Fatalf("GetBody: %v", err)
	}
	if again, _ := io.ReadAll(rb); string(again) != `{"name":"c1"}` {
		t.Errorf("GetBody read %q", again)
	}
}

func TestDecodeRequestTolerant(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *vcdext.Request, hr *http.Request)
	}{
		{
			name: "minimal",
			body: `[{"id":"r1","method":"GET","requestUri":"/api/cse/system"},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if hr.Body != http.NoBody || hr.ContentLength != 0 || r.Body != nil {
					t.Errorf("body = %v, %d, %q; want NoBody", hr.Body, hr.ContentLength, r.Body)
				}
				if hr.RemoteAddr != "" || hr.Host != "" || hr.URL.RawQuery != "" {
					t.Errorf("RemoteAddr %q Host %q RawQuery %q; want empty", hr.RemoteAddr, hr.Host, hr.URL.RawQuery)
				}
			},
		},
		{
			name: "ports as strings, query with leading ?",
			body: `[{"id":"r1","method":"GET","requestUri":"/api/cse/clusters","queryString":"?org_name=a%20b&page=2",
			        "remoteAddr":"::1","remotePort":"4711","localPort":" 443 "},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if r.RemotePort != 4711 || r.LocalPort != 443 {
					t.Errorf("ports = %d, %d", r.RemotePort, r.LocalPort)
				}
				if hr.RemoteAddr != "[::1]:4711" {
					t.Errorf("RemoteAddr = %q", hr.RemoteAddr)
				}
				if got := hr.URL.Query().Get("org_name"); got != "a b" {
					t.Errorf("org_name = %q", got)
				}
				if hr.RequestURI != "/api/cse/clusters?org_name=a%20b&page=2" {
					t.Errorf("RequestURI = %q", hr.RequestURI)
				}
			},
		},
		{
			name: "junk ports are ignored",
			body: `[{"id":"r1","method":"GET","requestUri":"/x","localPort":"https","remotePort":{"a":1}},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if r.LocalPort != 0 || r.RemotePort != 0 {
					t.Errorf("ports = %d, %d; want 0", r.LocalPort, r.RemotePort)
				}
			},
		},
		{
			name: "header values of other JSON types, null skipped",
			body: `[{"id":"r1","method":"GET","requestUri":"/x","headers":{"x-count":3,"x-flag":true,"x-multi":["a","b"],"x-none":null}},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				want := http.Header{"X-Count": {"3"}, "X-Flag": {"true"}, "X-Multi": {"a", "b"}}
				if !reflect.DeepEqual(hr.Header, want) {
					t.Errorf("Header = %v, want %v", hr.Header, want)
				}
			},
		},
		{
			name: "unpadded and MIME-wrapped base64",
			body: `[{"id":"r1","method":"PUT","requestUri":"/x","body":"eyJuYW1l\r\nIjoiYzEifQ"},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if string(r.Body) != `{"name":"c1"}` {
					t.Errorf("Body = %q", r.Body)
				}
			},
		},
		{
			name: "rights null, extra fields, bad protocol defaults to HTTP/1.1",
			body: `[{"id":"r1","method":"DELETE","requestUri":"/x","protocol":"SPDY","extra":{"x":[1]}},{"user":"` + testUser + `","org":"` + testOrg + `","rights":null,"sessionId":"s"}]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if r.Caller.Rights != nil {
					t.Errorf("Rights = %v", r.Caller.Rights)
				}
				if hr.ProtoMajor != 1 || hr.ProtoMinor != 1 {
					t.Errorf("Proto = %s", hr.Proto)
				}
			},
		},
		{
			// VCD's URNs do not depend on case: the request carries the canonical form.
			name: "URNs in upper case",
			body: `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + strings.ToUpper(testUser) + `","org":"URN:vcloud:ORG:` +
				strings.ToUpper(strings.TrimPrefix(testOrg, "urn:vcloud:org:")) + `"}]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if r.Caller.User != testUser || r.Caller.Org != testOrg {
					t.Errorf("Caller = %+v, want %s of %s", r.Caller, testUser, testOrg)
				}
			},
		},
		{
			name: "the same name in different objects",
			body: `[{"id":"r1","method":"GET","requestUri":"/x","extra":{"id":1,"a":{"id":2},"b":[{"id":3},{"id":4}]}},` + secCtx + `]`,
			check: func(t *testing.T, r *vcdext.Request, hr *http.Request) {
				if r.ID != "r1" {
					t.Errorf("ID = %q", r.ID)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := vcdext.DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			hr, err := r.HTTPRequest(t.Context())
			if err != nil {
				t.Fatalf("HTTPRequest: %v", err)
			}
			tt.check(t, r, hr)
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	req := func(fields string) string {
		return `[{"id":"r1","method":"GET","requestUri":"/x"` + fields + `},` + secCtx + `]`
	}
	tests := []struct {
		name   string
		body   string
		wantID string // the request id the 400 reply can carry
		want   string // substring of the message
	}{
		{"empty", ``, "", "not a JSON array"},
		{"not JSON", `hello`, "", "not a JSON array"},
		{"object", `{"id":"r1"}`, "", "not a JSON array"},
		{"null", `null`, "", "not a JSON array"},
		{"truncated", `[{"id":"r1"`, "", "not a JSON array"},
		{"trailing garbage", req("") + `]`, "", "not a JSON array"},
		{"empty array", `[]`, "", "empty array"},
		{"one element", `[{"id":"r1","method":"GET","requestUri":"/x"}]`, "r1", "1 elements"},
		{"three elements", `[{"id":"r1","method":"GET","requestUri":"/x"},{},{}]`, "r1", "3 elements"},
		{"request not object", `["r1",` + secCtx + `]`, "", "element 0"},
		{"missing id", `[{"method":"GET","requestUri":"/x"},` + secCtx + `]`, "", "id missing"},
		{"empty id", `[{"id":"","method":"GET","requestUri":"/x"},` + secCtx + `]`, "", "id missing"},
		{"numeric id", `[{"id":7,"method":"GET","requestUri":"/x"},` + secCtx + `]`, "", "id is not a string"},
		{"bad base64", req(`,"body":"not base64!"`), "r1", "base64"},
		{"body not string", req(`,"body":{"a":1}`), "r1", "body is not a string"},
		{"missing method", `[{"id":"r1","requestUri":"/x"},` + secCtx + `]`, "r1", "method missing"},
		{"bad method", `[{"id":"r1","method":"GE T","requestUri":"/x"},` + secCtx + `]`, "r1", "not a valid HTTP method"},
		{"missing uri", `[{"id":"r1","method":"GET"},` + secCtx + `]`, "r1", "requestUri missing"},
		{"relative uri", `[{"id":"r1","method":"GET","requestUri":"api/cse"},` + secCtx + `]`, "r1", "not an absolute path"},
		{"space in uri", `[{"id":"r1","method":"GET","requestUri":"/a b"},` + secCtx + `]`, "r1", "control character"},
		{"newline in query", req(`,"queryString":"a=1\nb"`), "r1", "control character"},
		{"bad escape in uri", `[{"id":"r1","method":"GET","requestUri":"/a%zz"},` + secCtx + `]`, "r1", "do not form a URL"},
		{"query not string", req(`,"queryString":5`), "r1", "queryString is not a string"},
		{"headers not object", req(`,"headers":["Accept"]`), "r1", "headers is not a JSON object"},
		{"bad header name", req(`,"headers":{"Bad Name":"x"}`), "r1", "not a valid HTTP token"},
		{"header value with newline", req(`,"headers":{"X-A":"a\r\nX-B: b"}`), "r1", "control character"},
		{"header value object", req(`,"headers":{"X-A":{"b":1}}`), "r1", "not a string"},
		{"security context null", `[{"id":"r1","method":"GET","requestUri":"/x"},null]`, "r1", "securityContext"},
		{"security context array", `[{"id":"r1","method":"GET","requestUri":"/x"},[]]`, "r1", "securityContext"},
		{"no user", `[{"id":"r1","method":"GET","requestUri":"/x"},{"org":"o"}]`, "r1", "securityContext.user missing"},
		{"no org", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"u"}]`, "r1", "securityContext.org missing"},
		{"rights not strings", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg + `","rights":[1]}]`, "r1", "rights"},

		// A user and an org are URNs of their kind, with a UUID.
		{"user not a URN", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"alice","org":"` + testOrg + `"}]`, "r1",
			`securityContext.user "alice" is not a user URN`},
		{"org not a UUID", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"urn:vcloud:org:acme"}]`, "r1",
			`securityContext.org "urn:vcloud:org:acme" is not an org URN (urn:vcloud:org:<uuid>)`},
		{"org is a user", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testUser + `"}]`, "r1",
			"is not an org URN"},
		{"org with a short UUID", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg[:len(testOrg)-1] + `"}]`, "r1",
			"is not an org URN"},
		{"org UUID without hyphens", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"urn:vcloud:org:3a7e9c5b1d2f4e609b8a7c4d2e1f0a22"}]`, "r1",
			"is not an org URN"},

		// A key given twice, anywhere, is refused: encoding/json would take the last.
		{"org twice", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg +
			`","org":"urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}]`, "r1", `key "org" appears twice in securityContext`},
		{"org twice, in other case", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg +
			`","ORG":"urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}]`, "r1",
			`key "ORG" appears twice in securityContext (as "org"; names compare without case)`},
		{"org twice, escaped", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg +
			`","\u006frg":"urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}]`, "r1", `key "org" appears twice in securityContext`},
		{"user twice, long s", `[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"` + testOrg +
			`","uſer":"` + testUser + `"}]`, "r1", `key "uſer" appears twice in securityContext (as "user"`},
		{"requestUri twice", `[{"id":"r1","method":"GET","requestUri":"/x","requestUri":"/y"},` + secCtx + `]`, "r1",
			`key "requestUri" appears twice in request`},
		{"id twice", `[{"id":"r1","method":"GET","requestUri":"/x","id":"r2"},` + secCtx + `]`, "", `key "id" appears twice in request`},
		{"id twice, in other case", `[{"id":"r1","method":"GET","requestUri":"/x","Id":"r2"},` + secCtx + `]`, "", `key "Id" appears twice in request`},
		{"header twice", req(`,"headers":{"Accept":"application/json;version=36.0","Accept":"application/json;version=35.0"}`), "r1",
			`header "Accept" appears twice in request.headers`},
		{"header twice, in other case", req(`,"headers":{"Accept":"application/json;version=36.0","accept":"application/json;version=35.0"}`), "r1",
			`header "accept" appears twice in request.headers (as "Accept"; names compare without case)`},
		{"nested key twice", req(`,"extra":{"a":[1,{"b":{"c":1,"c":2}}]}`), "r1", `key "c" appears twice in request.extra.a[1].b`},
		{"key twice in a later element", `[{"id":"r1","method":"GET","requestUri":"/x"},` + secCtx + `,{"a":1,"a":2}]`, "r1",
			`key "a" appears twice in element 2`},
		{"key twice in an array element", `[[{"a":1,"a":2}],` + secCtx + `]`, "", `key "a" appears twice in request[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := vcdext.DecodeRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeRequest = %+v, want error", r)
			}
			var ee *vcdext.EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T %v is not an *EnvelopeError", err, err)
			}
			if ee.RequestID != tt.wantID {
				t.Errorf("RequestID = %q, want %q", ee.RequestID, tt.wantID)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestHTTPRequestRejectsHandBuiltGarbage(t *testing.T) {
	tests := []struct {
		name string
		r    vcdext.Request
	}{
		{"no method", vcdext.Request{ID: "r", RequestURI: "/x"}},
		{"bad method", vcdext.Request{ID: "r", Method: "G(T", RequestURI: "/x"}},
		{"no uri", vcdext.Request{ID: "r", Method: "GET"}},
		{"absolute URL", vcdext.Request{ID: "r", Method: "GET", RequestURI: "http://evil/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if hr, err := tt.r.HTTPRequest(t.Context()); err == nil {
				t.Fatalf("HTTPRequest = %v, want error", hr.URL)
			}
		})
	}
}
