package vcdext

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"github.com/kaasproject/kaas/ingress"
)

// The fast path reads a well-formed envelope in one pass over its bytes, without
// reflection: on the request path it used to cost as much as the rest of the handler's
// decoding (encoding/json into a struct of both elements' fields).
//
// It takes only what it reads exactly as decodeCareful reads it, and leaves everything else
// to decodeCareful by returning nil: invalid JSON, a key given twice, a key that is not
// plain ASCII, a field of an unexpected type, a missing required field. FuzzDecodeFastPath
// checks that whatever it returns decodeCareful returns too, field for field.

// decodeFast decodes a well-formed envelope and checks it as decodeCareful does.
func decodeFast(body []byte) (*Request, *checkedTarget) {
	if !json.Valid(body) {
		return nil, nil
	}
	if rep, ok := findRepeatedKey(body); !ok || rep != nil {
		return nil, nil
	}
	s := &fastScan{b: body}
	var w fastRequest
	var sc fastCaller
	if !s.next('[') || !w.read(s) || !s.next(',') || !sc.read(s) || !s.next(']') || s.ws() != len(body) {
		return nil, nil
	}
	if w.id == nil || *w.id == "" || w.method == nil || w.requestURI == nil || sc.user == nil || sc.org == nil {
		return nil, nil
	}
	user, uok := ingress.CanonicalURN("user", *sc.user)
	org, ook := ingress.CanonicalURN("org", *sc.org)
	if !uok || !ook {
		return nil, nil
	}
	r := &Request{
		ID: *w.id, Method: *w.method, RequestURI: *w.requestURI,
		QueryString: strings.TrimPrefix(deref(w.queryString), "?"),
		Scheme:      deref(w.scheme), Protocol: deref(w.protocol),
		LocalAddr: deref(w.localAddr), RemoteAddr: deref(w.remoteAddr),
		LocalPort: port(w.localPort), RemotePort: port(w.remotePort),
		Caller: ingress.Caller{User: user, Org: org, Rights: sc.rights},
		Header: w.header,
	}
	if len(w.body) > 0 {
		r.Body = w.body
	}
	t, err := r.check()
	if err != nil {
		return nil, nil
	}
	return r, t
}

// fastRequest is element 0's fields; nil pointers are absent or null.
type fastRequest struct {
	id, method, requestURI, queryString *string
	scheme, protocol, localAddr         *string
	remoteAddr                          *string
	localPort, remotePort               []byte // raw JSON, read by port
	header                              http.Header
	body                                []byte
}

// requestFields and callerFields are the keys of each element that decodeCareful reads.
var (
	requestFields = []string{"id", "method", "requestUri", "queryString", "headers", "body", "scheme", "protocol",
		"localAddr", "localPort", "remoteAddr", "remotePort"}
	callerFields = []string{"user", "org", "rights"}
)

func (w *fastRequest) read(s *fastScan) bool {
	w.header = http.Header{}
	return s.object(requestFields, func(key string) bool {
		var ok bool
		switch key {
		case "id":
			w.id, ok = s.nullableString()
		case "method":
			w.method, ok = s.nullableString()
		case "requestUri":
			w.requestURI, ok = s.nullableString()
		case "queryString":
			w.queryString, ok = s.nullableString()
		case "scheme":
			w.scheme, ok = s.nullableString()
		case "protocol":
			w.protocol, ok = s.nullableString()
		case "localAddr":
			w.localAddr, ok = s.nullableString()
		case "remoteAddr":
			w.remoteAddr, ok = s.nullableString()
		case "localPort":
			w.localPort, ok = s.raw()
		case "remotePort":
			w.remotePort, ok = s.raw()
		case "headers":
			ok = w.readHeaders(s)
		case "body":
			var b64 *string
			if b64, ok = s.nullableString(); ok && b64 != nil {
				// As encoding/json reads a []byte: padded standard base64, CR and LF skipped.
				w.body = make([]byte, base64.StdEncoding.DecodedLen(len(*b64)))
				n, err := base64.StdEncoding.Decode(w.body, []byte(*b64))
				w.body, ok = w.body[:n], err == nil
			}
		}
		return ok
	})
}

func (w *fastRequest) readHeaders(s *fastScan) bool {
	if s.null() {
		return true
	}
	return s.object(nil, func(name string) bool {
		v, ok := s.nullableString()
		if !ok || !validHeaderName(name) {
			return false
		}
		if v == nil {
			return true // null, skipped as decodeHeaders does
		}
		if !validHeaderValue(*v) {
			return false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		w.header[key] = append(w.header[key], *v)
		return true
	})
}

// fastCaller is element 1's fields.
type fastCaller struct {
	user, org *string
	rights    []string
}

func (c *fastCaller) read(s *fastScan) bool {
	return s.object(callerFields, func(key string) bool {
		var ok bool
		switch key {
		case "user":
			c.user, ok = s.nullableString()
		case "org":
			c.org, ok = s.nullableString()
		case "rights":
			if s.null() {
				return true
			}
			if !s.next('[') {
				return false
			}
			c.rights = []string{}
			if s.peek() == ']' {
				s.i++
				return true
			}
			for {
				r, ok := s.str()
				if !ok {
					return false
				}
				c.rights = append(c.rights, r)
				if s.next(']') {
					return true
				}
				if !s.next(',') {
					return false
				}
			}
		}
		return ok
	})
}

// fastScan reads JSON that json.Valid accepted and findRepeatedKey found no key twice in.
type fastScan struct {
	b []byte
	i int
}

// ws skips white space and returns the position after it.
func (s *fastScan) ws() int {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
	return s.i
}

func (s *fastScan) peek() byte {
	if s.ws() == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// next consumes c if it comes next.
func (s *fastScan) next(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

func (s *fastScan) null() bool {
	if s.peek() == 'n' {
		s.i += len("null")
		return true
	}
	return false
}

// str reads a string. One with no escapes, of UTF-8 only, is its own bytes; any other
// goes through encoding/json, as decodeCareful reads it (escapes, U+FFFD for bad bytes).
func (s *fastScan) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start := s.i
	s.i++
	plain := true
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			v := s.b[start+1 : s.i-1]
			if plain && utf8.Valid(v) {
				return string(v), true
			}
			var out string
			err := json.Unmarshal(s.b[start:s.i], &out)
			return out, err == nil
		case c == '\\':
			plain = false
			s.i += 2
			continue
		}
		s.i++
	}
	return "", false
}

func (s *fastScan) nullableString() (*string, bool) {
	if s.null() {
		return nil, true
	}
	v, ok := s.str()
	return &v, ok
}

// raw returns the next value's bytes.
func (s *fastScan) raw() ([]byte, bool) {
	start := s.ws()
	if !s.skip() {
		return nil, false
	}
	return s.b[start:s.i], true
}

// skip passes over one value (valid JSON).
func (s *fastScan) skip() bool {
	switch s.peek() {
	case '"':
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '\\':
				s.i += 2
				continue
			case '"':
				s.i++
				return true
			}
			s.i++
		}
		return false
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			case '"':
				if !s.skip() {
					return false
				}
				continue
			}
			s.i++
		}
		return false
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.i++
		}
		return true
	}
}

// object reads an object, calling field for each key that is one of known (nil: every
// key), under its name in known, with the scanner at its value; other keys' values are
// skipped. As in encoding/json, a key that matches a field only when case is ignored is
// that field; a key that is not plain ASCII fails, rather than follow encoding/json's
// Unicode folding here.
func (s *fastScan) object(known []string, field func(key string) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		read := known == nil
		if !read {
			if !isASCII(key) {
				return false
			}
			key = fieldOf(known, key)
			read = key != ""
		}
		if read {
			if !field(key) {
				return false
			}
		} else if !s.skip() {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// fieldOf is the field of known that key names, exactly or ignoring case; "" for none.
func fieldOf(known []string, key string) string {
	for _, k := range known {
		if k == key {
			return k
		}
	}
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
