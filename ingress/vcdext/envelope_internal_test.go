package vcdext

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	internalUser   = "urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11"
	internalOrg    = "urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22"
	internalSecCtx = `{"user":"` + internalUser + `","org":"` + internalOrg + `","rights":[]}`
)

// fastSeeds are envelopes the fast path should take, and near misses it must leave to
// the careful path.
var fastSeeds = []struct {
	body string
	fast bool // the fast path takes it
}{
	{`[{"id":"6f0c9a4e-1111-4b7d-9a51-000000000001","method":"POST","requestUri":"/api/cse/3.0/clusters","queryString":null,
	  "headers":{"Accept":"application/json;version=36.0","Authorization":"Bearer eyJ","Content-Type":"application/json","Host":"vcd.example.com"},
	  "body":"eyJuYW1lIjoiYzEifQ==","scheme":"https","protocol":"HTTP/1.1","request":true,"statusCode":0,
	  "localAddr":"10.0.0.5","localPort":443,"remoteAddr":"10.1.2.3","remotePort":53211},
	 {"user":"urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11","org":"urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22","rights":["urn:vcloud:right:r1","urn:vcloud:right:r2"]}]`, true},
	{`[{"id":"r1","method":"GET","requestUri":"/api/cse/system"},` + internalSecCtx + `]`, true},
	{`[{"id":"r1","method":"GET","requestUri":"/x","queryString":"?a=1&b=%20","remotePort":"80","remoteAddr":"::1","localPort":"x"},` + internalSecCtx + `]`, true},
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"a":"1","B":"2","b-":null,"c-d":"\u00e9\t"},"body":""},` + internalSecCtx + `]`, true},
	{`[{"ID":"r1","method":"GET","requestUri":"/x","headers":null,"body":null,"\u0069d2":"r2"},{"USER":"` + internalUser + `","org":"` + internalOrg + `","x":{"x":1}}]`, true},
	{` [ {"id":"r1","method":"GET","requestUri":"/x"} , ` + internalSecCtx + ` ] `, true},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + strings.ToUpper(internalUser) + `","org":"URN:VCLOUD:org:` + strings.ToUpper(internalOrg[15:]) + `"}]`, true},
	// Repeated keys, and malformed URNs, go to the careful path, which refuses them.
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"a":"1","A":"2"}},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","ID":"r2"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","requestUri":"/y"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + internalUser + `","org":"` + internalOrg + `","org":"urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"` + internalUser + `","org":"` + internalOrg + `","\u006Frg":"` + internalOrg + `"}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","x":[{"a":1,"\u212a":2,"k":3}]},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"urn:vcloud:user:u1","org":"` + internalOrg + `"}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"u","org":"o"}]`, false},
	// Near misses: valid but unusual, or invalid.
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"a":1}},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"a":["1","2"]}},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","body":"eyJ9"},` + internalSecCtx + `]`, true},
	{`[{"id":"r1","method":"GET","requestUri":"/x","body":"eyJuYW1l\r\nIjoiYzEifQ"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","body":"!!"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","localPort":{"a":1}},` + internalSecCtx + `]`, true},
	{`[{"id":"r1","method":"GET","requestUri":"/x"}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{},{}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},null]`, false},
	{`[null,` + internalSecCtx + `]`, false},
	{`[{"id":7,"method":"GET","requestUri":"/x"},` + internalSecCtx + `]`, false},
	{`[{"id":"","method":"GET","requestUri":"/x"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","id":null,"method":"GET","requestUri":"/x"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"G T","requestUri":"/x"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/a%zz"},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"Bad Name":"x"}},` + internalSecCtx + `]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"X":"a\nb"}},` + internalSecCtx + `]`, false},
	{`[{"id":"0","method":"0","requestUri":"/","heAders":{"":null}},{"user":"0","org":"0"}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"u","org":"o","rights":[1]}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},{"user":"u","org":""}]`, false},
	{`[{"id":"r1","method":"GET","requestUri":"/x"},` + internalSecCtx + `]]`, false},
	{`{"id":"r1"}`, false}, {`null`, false}, {``, false}, {`[]`, false}, {`["\ud800"]`, false},
}

func TestDecodeFastPath(t *testing.T) {
	for _, s := range fastSeeds {
		r, _ := decodeFast([]byte(s.body))
		if (r != nil) != s.fast {
			t.Errorf("fast path took it = %v, want %v: %s", r != nil, s.fast, s.body)
		}
		checkFastAgrees(t, []byte(s.body))
	}
	// Header names that canonicalize alike are one header given twice: refused.
	body := []byte(`[{"id":"r1","method":"GET","requestUri":"/x","headers":{"x-a":"1","X-A":"2"}},` + internalSecCtx + `]`)
	if r, _ := decodeFast(body); r != nil {
		t.Errorf("fast path took a header given twice: %+v", r)
	}
	if _, _, err := decodeCareful(body); err == nil || !strings.Contains(err.Error(), `header "X-A" appears twice in request.headers (as "x-a"`) {
		t.Errorf("careful path: %v", err)
	}
}

// FuzzDecodeFastPath checks that whenever the fast path takes a body, the careful path
// returns the same request and target: the fast path is an optimisation, not a dialect.
func FuzzDecodeFastPath(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s.body))
	}
	f.Fuzz(checkFastAgrees)
}

func checkFastAgrees(t *testing.T, body []byte) {
	fr, ft := decodeFast(body)
	if fr == nil {
		if ft != nil {
			t.Fatalf("fast path returned a target without a request")
		}
		return
	}
	cr, ct, err := decodeCareful(body)
	if err != nil {
		t.Fatalf("fast path took a body the careful path refuses (%v): %s", err, body)
	}
	// Header values of names that canonicalize alike come in map order, in both paths.
	for _, h := range []http.Header{fr.Header, cr.Header} {
		for _, v := range h {
			if len(v) > 1 {
				slices.Sort(v)
			}
		}
	}
	if !reflect.DeepEqual(fr, cr) {
		t.Fatalf("fast and careful paths disagree on %s:\n fast    %#v\n careful %#v", body, fr, cr)
	}
	if !reflect.DeepEqual(ft, ct) {
		t.Fatalf("fast and careful targets disagree on %s:\n fast    %#v\n careful %#v", body, ft, ct)
	}
}
