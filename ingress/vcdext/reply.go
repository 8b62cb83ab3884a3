package vcdext

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/kaasproject/kaas/events/cse"
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

func (r *reply) marshal() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends r to b exactly as json.Marshal writes it, without reflection: the
// fields in declaration order, header names sorted, strings escaped as encoding/json
// escapes them (HTML characters, U+2028 and U+2029, invalid UTF-8 as U+FFFD), the body
// in standard base64.
func (r *reply) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"statusCode":`...)
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = append(b, `,"headers":`...)
	if r.Headers == nil {
		b = append(b, "null"...)
	} else {
		var buf [16]string
		names := buf[:0]
		for k := range r.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		b = append(b, '{')
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			switch v := r.Headers[k].(type) {
			case string:
				b = appendJSONString(b, v)
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			default: // newReply makes none; be exact anyway
				j, err := json.Marshal(v)
				if err != nil {
					return nil, err
				}
				b = append(b, j...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"body":`...)
	if r.Body == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, r.Body)
		b = append(b, '"')
	}
	b = append(b, `,"request":`...)
	b = strconv.AppendBool(b, r.Request)
	return append(b, '}'), nil
}

// replyBufs recycles reply message bodies once the publisher is done with them.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledReply keeps an odd huge reply from pinning its buffer in the pool.
const maxPooledReply = 64 << 10

// appendJSONString appends s as encoding/json writes a string with HTML escaping on.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, and <, > and &
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe reports whether encoding/json writes the ASCII byte c as is (with HTML
// escaping on): everything but control characters, '"', '\\', '<', '>' and '&'.
func jsonSafe(c byte) bool {
	return c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// errorReply answers with CSE's error body, {"message": {"minor error code": -1,
// "error description": "..."}}, as the API answers bad input: a client reads one shape.
func errorReply(id string, status int, message string) *reply {
	b, err := json.Marshal(cse.NewError(cse.MinorDefault, message))
	if err != nil { // a struct of an int and a string; cannot fail
		panic(err)
	}
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
