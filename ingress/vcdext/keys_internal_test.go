package vcdext

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFindRepeatedKey(t *testing.T) {
	for _, tt := range []struct {
		body          string
		where         string // "" for none
		first, second string
	}{
		{body: `[]`},
		{body: `[{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]},{"a":1}]`},
		{body: `{"a":"x\"a\\","b":"\\\\\""}`},
		{body: `[{"a":1,"a":2}]`, where: "request", first: "a", second: "a"},
		{body: `[{},{"org":1,"ORG":2}]`, where: "securityContext", first: "org", second: "ORG"},
		{body: `[{},{},{"a":1,"a":2}]`, where: "element 2", first: "a", second: "a"},
		{body: `{"a":1,"a":2}`, where: "body", first: "a", second: "a"},
		{body: `[{"headers":{"Accept":"1","accept":"2"}}]`, where: "request.headers", first: "Accept", second: "accept"},
		{body: `[{"x":[0,[{"y":{"k":1,"\u212a":2}}]]}]`, where: "request.x[1][0].y", first: "k", second: "\u212a"},
		{body: `[{"i\u0064":1,"id":2}]`, where: "request", first: "id", second: "id"},
		{body: `[{"\u00e9":1,"\u00c9":2}]`, where: "request", first: "é", second: "É"},
		{body: `[{"\ud800":1,"\udfff":2}]`, where: "request", first: "\ufffd", second: "\ufffd"}, // lone surrogates read as U+FFFD
		{body: `[{"a":1, "b" : 2 ,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,` +
			`"q":17,"r":18,"s":19,"t":20,"u":21,"v":22,"w":23,"x":24,"y":25,"z":26,"A":27}]`, where: "request", first: "a", second: "A"},
	} {
		rep, ok := findRepeatedKey([]byte(tt.body))
		if !ok {
			t.Errorf("%s: not read", tt.body)
			continue
		}
		switch {
		case tt.where == "" && rep != nil:
			t.Errorf("%s: repeated key %+v", tt.body, rep)
		case tt.where != "" && (rep == nil || *rep != repeatedKey{where: tt.where, first: tt.first, second: tt.second}):
			t.Errorf("%s: repeated key %+v, want %s %q %q", tt.body, rep, tt.where, tt.first, tt.second)
		}
	}
	// However deep, the path is named in bounded space and time.
	deep := strings.Repeat(`{"a":[`, 4000) + `{"b":1,"b":2}` + strings.Repeat(`]}`, 4000)
	rep, ok := findRepeatedKey([]byte(deep))
	if !ok || rep == nil || !strings.HasPrefix(rep.where, "body…") || len(rep.where) > 2*maxWhere || !strings.HasSuffix(rep.where, ".a[0]") {
		t.Errorf("deep: %+v", rep)
	}
	for _, bad := range []string{``, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `"abc`, `{"a\`, `{"a":1}x`, `[1 2]`, `{1:2}`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)} {
		if _, ok := findRepeatedKey([]byte(bad)); ok {
			t.Errorf("%q read as JSON", bad)
		}
	}
}

// TestFindRepeatedKeyAllocs: the scan runs on every message, and allocates nothing for one
// of the usual shape.
func TestFindRepeatedKeyAllocs(t *testing.T) {
	body := []byte(fastSeeds[0].body)
	if n := testing.AllocsPerRun(100, func() { findRepeatedKey(body) }); n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

// FuzzFindRepeatedKey checks the scanner against a slow and simple reading: every valid
// JSON text is read, and has a repeated key exactly when the reading finds one.
func FuzzFindRepeatedKey(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s.body))
	}
	f.Add([]byte(`{"a":{"b":1,"B":[{"\u017f":1,"s":2}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, ok := findRepeatedKey(body)
		if !json.Valid(body) {
			return // not JSON: whatever the scan says, the decoder refuses it
		}
		if !ok {
			t.Fatalf("valid JSON not read: %s", body)
		}
		want := hasRepeatedKey(body)
		if (rep != nil) != want {
			t.Fatalf("repeated key %+v, want %v: %s", rep, want, body)
		}
		if rep != nil && !strings.EqualFold(rep.first, rep.second) {
			t.Fatalf("%q and %q are not the same key: %s", rep.first, rep.second, body)
		}
	})
}

// hasRepeatedKey reports whether a valid JSON text has two keys in one object that
// encoding/json takes for the same field name (strings.EqualFold), the slow way.
func hasRepeatedKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   []string
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			panic(err) // body is valid JSON
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isString := tok.(string); isString && top != nil && top.object && top.key {
			for _, prev := range top.keys {
				if strings.EqualFold(prev, k) {
					return true
				}
			}
			top.keys = append(top.keys, k)
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}
