package vcdext

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestReplyGoldenEscapes pins the bytes of a reply whose strings need escaping: the same
// bytes encoding/json wrote before the reply encoder was hand-written.
func TestReplyGoldenEscapes(t *testing.T) {
	rep := newReply("id-\"<&>\u2028", 202, http.Header{
		"Location": {"/api/task/1?a=1&b=<2>"}, "X-Ctl": {"tab\there\x01\x7f"}, "X-Utf8": {"é\u2029\xff"},
		"Content-Type": {"application/json;version=36.0"},
	}, []byte("{\"name\":\"c1\"}\n"))
	const want = `{"id":"id-\"\u003c\u0026\u003e\u2028","statusCode":202,"headers":{"Content-Length":14,` +
		`"Content-Type":"application/json;version=36.0","Location":"/api/task/1?a=1\u0026b=\u003c2\u003e",` +
		`"X-Ctl":"tab\there\u0001` + "\x7f" + `","X-Utf8":"é\u2029\ufffd"},"body":"eyJuYW1lIjoiYzEifQo=","request":false}`
	got, err := rep.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("reply\n got %s\nwant %s", got, want)
	}
	if old, _ := json.Marshal(rep); string(old) != want {
		t.Errorf("encoding/json writes\n %s\nwant %s", old, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Errorf("reply is not JSON: %v", err)
	}
}

// FuzzReplyJSON checks the hand-written encoder against encoding/json.
func FuzzReplyJSON(f *testing.F) {
	f.Add("r1", 202, "Content-Type", "application/json", "X-A", "a<b>&\"\\\x00\u2028\xff", []byte(`{}`))
	f.Add("", 500, "", "", "k\xc3", "\t\r\n\b\f", []byte(nil))
	f.Fuzz(func(t *testing.T, id string, status int, k1, v1, k2, v2 string, body []byte) {
		for _, rep := range []*reply{
			newReply(id, status, http.Header{k1: {v1}, k2: {v2, "x"}}, body),
			{ID: id, StatusCode: status, Headers: map[string]any{k1: v1, k2: len(v2), "b": true}, Body: body, Request: len(body) > 3},
			errorReply(id, status, v1+v2),
		} {
			got, err := rep.marshal()
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("reply\n got %s\nwant %s", got, want)
			}
		}
	})
}
