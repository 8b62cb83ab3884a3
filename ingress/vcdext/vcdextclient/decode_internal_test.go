package vcdextclient

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// respSeeds are replies the fast path should take, and near misses it must leave alone.
var respSeeds = []struct {
	body string
	fast bool
}{
	{`{"id":"r1","statusCode":202,"headers":{"Content-Length":22,"Content-Type":"application/json"},"body":"eyJtZXNzYWdlIjoiYWNjZXB0ZWQifQ==","request":false}`, true},
	{`{"body":"","headers":{"Content-Length":0,"Content-Type":"application/json"},"id":"r2","request":false,"statusCode":204}`, true},
	{` { "id" : "é" , "statusCode" : -0 , "headers" : { } , "body" : "e30=" , "request" : false } `, true},
	{`{"id":"r1","statusCode":202,"headers":{"X-N":-12,"x-m":"a\u0026b"},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{"a":"1","A":"2"},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{"a":1.5},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{"a":null},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{},"body":"e30","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{},"body":"","request":true}`, false},
	{`{"id":"r1","statusCode":202,"headers":{},"body":""}`, false},
	{`{"id":"r1","statusCode":202,"headers":{},"body":"","request":false,"id":"r2"}`, false},
	{`{"ID":"r1","statusCode":202,"headers":{},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":2e2,"headers":{},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":0202,"headers":{},"body":"","request":false}`, false},
	{`{"id":"\xff","statusCode":202,"headers":{},"body":"","request":false}`, false},
	{`{"id":"r1","statusCode":202,"headers":{},"body":"","request":false}x`, false},
	{`not json`, false}, {`null`, false}, {`{}`, false}, {``, false},
}

func TestDecodeResponseFast(t *testing.T) {
	for _, s := range respSeeds {
		if got := decodeResponseFast([]byte(s.body)) != nil; got != s.fast {
			t.Errorf("fast path took it = %v, want %v: %s", got, s.fast, s.body)
		}
		checkRespAgrees(t, []byte(s.body))
	}
	// What vcdext itself writes.
	b, _ := json.Marshal(map[string]any{
		"id": "r9", "statusCode": 500, "request": false, "body": []byte(`{"message":"internal error"}`),
		"headers": map[string]any{"Content-Type": "application/json", "Content-Length": 28, "Location": "/api/task/1?a=b"},
	})
	if r := decodeResponseFast(b); r == nil || string(r.Body) != `{"message":"internal error"}` || r.Header.Get("Content-Length") != "28" {
		t.Errorf("fast path on %s = %+v", b, r)
	}
}

// FuzzDecodeResponse checks that whatever the fast path takes, encoding/json reads the same.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range respSeeds {
		f.Add([]byte(s.body))
	}
	f.Fuzz(checkRespAgrees)
}

func checkRespAgrees(t *testing.T, body []byte) {
	fast := decodeResponseFast(body)
	if fast == nil {
		return
	}
	ref, err := decodeResponseJSON(body)
	if err != nil {
		t.Fatalf("fast path took a reply encoding/json refuses (%v): %s", err, body)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fast and encoding/json disagree on %s:\n fast %#v\n json %#v", body, fast, ref)
	}
}

// BenchmarkDecodeResponse decodes a reply of kaas's size, as the client does for each.
func BenchmarkDecodeResponse(b *testing.B) {
	body, _ := json.Marshal(map[string]any{
		"id": "6f0c9a4e-1111-4b7d-9a51-000000000001", "statusCode": 202, "request": false,
		"body":    []byte(strings.Repeat(`{"k":"0123456789abcdef0123456789abcdef0123456789"},`, 38)),
		"headers": map[string]any{"Content-Type": "application/json;version=36.0", "Content-Length": 1900, "Location": "/api/task/0b7f3c1e"},
	})
	for _, bc := range []struct {
		name   string
		decode func([]byte) (*Resp, error)
	}{{"DecodeResponse", DecodeResponse}, {"encoding-json", decodeResponseJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
