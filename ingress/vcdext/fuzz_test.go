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
// *EnvelopeError, and that every success yields a request net/http's mux can serve.
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
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
