package vcdext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// reply is the response half of VCD's protocol, as CSE's form_response_json wrote it.
type reply struct {
	ID         string `json:"id"`
	StatusCode int    `json:"statusCode"`
	// Headers holds strings, except Content-Length, which VCD expects as a number.
	Headers map[string]any `json:"headers"`
	Body    []byte         `json:"body"` // encoding/json writes []byte as standard base64
	Request bool           `json:"request"`
}

func (r *reply) marshal() ([]byte, error) { return json.Marshal(r) }

// errorReply answers with CSE's flat error body, {"message": "..."}.
func errorReply(id string, status int, message string) *reply {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	return newReply(id, status, http.Header{"Content-Type": {"application/json"}}, b)
}

// newReply copies the first value of each response header and sets Content-Length to the
// length of the raw body, as VCD expects.
func newReply(id string, status int, h http.Header, body []byte) *reply {
	hs := make(map[string]any, len(h)+2)
	for k, v := range h {
		if len(v) > 0 {
			hs[k] = v[0]
		}
	}
	if _, ok := hs["Content-Type"]; !ok {
		// CSE always answered JSON, and VCD copies this header to the client.
		hs["Content-Type"] = "application/json"
	}
	hs["Content-Length"] = len(body)
	if body == nil {
		body = []byte{} // "" rather than null on the wire
	}
	return &reply{ID: id, StatusCode: status, Headers: hs, Body: body}
}

// recorder is the in-memory http.ResponseWriter handlers write to. Like net/http, it freezes
// the headers at the first WriteHeader or Write, and ignores 1xx and repeated WriteHeaders.
type recorder struct {
	header  http.Header
	written http.Header // snapshot at WriteHeader
	status  int
	body    bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if code < 100 || code > 999 {
		// Same contract as net/http; the consumer's recover turns it into a 500.
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	w.written = w.header.Clone()
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// Flush is a no-op so that handlers that flush still work; the reply is sent whole.
func (w *recorder) Flush() {}

func (w *recorder) reply(id string) *reply {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return newReply(id, w.status, w.written, w.body.Bytes())
}
