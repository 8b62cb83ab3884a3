package vcdext_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
)

// FuzzDecodeRequest checks that no body panics the decoder, that every failure is an
// *EnvelopeError, that the fast path and the careful one agree, that no body with a key
// given twice is accepted, that an accepted caller is in canonical form, and that every
// success yields a request net/http's mux can serve.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		vcdExample,
		`[{"id":"r1","method":"GET","requestUri":"/api/cse/system"},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","queryString":"?a=1","remotePort":"80","remoteAddr":"::1"},` + secCtx + `]`,
		`[{"id":"r1","method":"PUT","requestUri":"/x","body":"eyJ9","headers":{"a":1,"b":["c"],"d":null}},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x"}]`,
		`[{"id":"r1","method":"GET","requestUri":"/a%zz"},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"//host/x"},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","body":"!!"},` + secCtx + `]`,
		`[{"id":1},{}]`, `[]`, `[null,null]`, `{}`, `null`, `hello`, ``, `["\ud800"]`,
		// Keys given twice, at every level and in every spelling; URNs in other case.
		`[{"id":"r1","method":"GET","requestUri":"/api/cse/system/config"},{"user":"` + testUser + `","org":"` + testOrg + `","org":"urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","requestUri":"/y"},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"Accept":"a","accept":"b"}},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","x":{"y":[{"k":1,"\u212a":2}]}},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x","\u0069d":"r2"},` + secCtx + `]`,
		`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + strings.ToUpper(testUser) + `","org":"` + strings.ToUpper(testOrg) + `"}]`,
		`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + testUser + `","org":"urn:vcloud:org:acme"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vcdext.CheckFastAgrees(t, body)
		r, err := vcdext.DecodeRequest(body)
		if err != nil {
			var ee *vcdext.EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T is not an *EnvelopeError: %v", err, err)
			}
			return
		}
		if r.ID == "" {
			t.Fatal("success without an id")
		}
		if vcdext.HasRepeatedKey(body) {
			t.Fatalf("accepted a body with a key given twice: %s", body)
		}
		if u, ok := ingress.CanonicalURN("user", r.Caller.User); !ok || u != r.Caller.User {
			t.Fatalf("caller's user %q is not a canonical user URN", r.Caller.User)
		}
		if o, ok := ingress.CanonicalURN("org", r.Caller.Org); !ok || o != r.Caller.Org {
			t.Fatalf("caller's org %q is not a canonical org URN", r.Caller.Org)
		}
		hr, err := r.HTTPRequest(t.Context())
		if err != nil {
			t.Fatalf("DecodeRequest succeeded but HTTPRequest failed: %v", err)
		}
		if hr.Method != r.Method || hr.URL == nil || !strings.HasPrefix(hr.URL.Path, "/") && hr.URL.Opaque == "" {
			t.Fatalf("unusable request: method %q URL %#v", hr.Method, hr.URL)
		}
		if hr.URL.Host != "" || hr.URL.Scheme != "" {
			t.Fatalf("request URL %q is not path-only", hr.URL)
		}
		if c, ok := ingress.CallerFrom(hr.Context()); !ok || !reflect.DeepEqual(c, r.Caller) {
			t.Fatalf("caller %+v, %v; want %+v", c, ok, r.Caller)
		}
		got, err := io.ReadAll(hr.Body)
		if err != nil || !bytes.Equal(got, r.Body) || hr.ContentLength != int64(len(r.Body)) {
			t.Fatalf("body %q (%v), ContentLength %d; want %q", got, err, hr.ContentLength, r.Body)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		mux.ServeHTTP(httptest.NewRecorder(), hr)
	})
}
