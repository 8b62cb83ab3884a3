package vcdext

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/kaasproject/kaas/ingress"
)

// Request is one HTTP call that VCD forwarded: element 0 of the message body, with element 1,
// the security context, as Caller.
type Request struct {
	// ID is VCD's request id. It is unique per call and is the handler's idempotency key.
	ID     string
	Method string
	// RequestURI is the path VCD received, e.g. /api/cse/3.0/clusters.
	RequestURI string
	// QueryString is the raw query without the '?'; "" when VCD sent null.
	QueryString string
	// Header holds the request headers under canonical names. VCD sends one value per name.
	Header http.Header
	// Body is the raw HTTP body, already base64-decoded; nil for none.
	Body []byte

	Scheme     string // "https" normally
	Protocol   string // "HTTP/1.1" normally
	LocalAddr  string
	LocalPort  int
	RemoteAddr string
	RemotePort int

	// Caller is the security context VCD attached: who is calling, already authenticated.
	Caller ingress.Caller
}

// checkedTarget is the request-target of a request that passed check, parsed.
type checkedTarget struct {
	target string
	url    url.URL
}

// EnvelopeError says why a message is not a usable VCD request. The consumer answers it with
// a 400 whose message is Error().
type EnvelopeError struct {
	// RequestID is VCD's request id if the body got far enough to carry one, so that the 400
	// reply can name the request; "" otherwise.
	RequestID string
	Reason    string
}

func (e *EnvelopeError) Error() string { return "invalid request envelope: " + e.Reason }

// wireRequest keeps every field raw so that each one gets its own check and message, and so
// that optional fields of an unexpected type do not fail the whole request.
type wireRequest struct {
	ID          json.RawMessage `json:"id"`
	Method      json.RawMessage `json:"method"`
	RequestURI  json.RawMessage `json:"requestUri"`
	QueryString json.RawMessage `json:"queryString"`
	Headers     json.RawMessage `json:"headers"`
	Body        json.RawMessage `json:"body"`
	Scheme      json.RawMessage `json:"scheme"`
	Protocol    json.RawMessage `json:"protocol"`
	LocalAddr   json.RawMessage `json:"localAddr"`
	LocalPort   json.RawMessage `json:"localPort"`
	RemoteAddr  json.RawMessage `json:"remoteAddr"`
	RemotePort  json.RawMessage `json:"remotePort"`
}

type wireSecurityContext struct {
	User   json.RawMessage `json:"user"`
	Org    json.RawMessage `json:"org"`
	Rights json.RawMessage `json:"rights"`
}

// DecodeRequest parses a VCD API-extension message body, the JSON array
// [request, securityContext]. It is pure, so it can be fuzzed. Required: a two-element array
// of objects, no key given twice in any object (see keys.go), a non-empty string id, a
// method that is an HTTP token, a requestUri that is an absolute path, base64 body, and the
// security context's user and org as user and org URNs, which the request carries in
// canonical form (see [ingress.CanonicalURN]). Optional fields may be missing or null, and
// ports may be numbers or numeric strings; a port of any other form is ignored, since it is
// informational only. Every error is an [*EnvelopeError].
func DecodeRequest(body []byte) (*Request, error) {
	r, _, err := decode(body)
	return r, err
}

// decode is DecodeRequest that also returns the checked request-target, for httpRequest.
func decode(body []byte) (*Request, *checkedTarget, error) {
	if r, t := decodeFast(body); r != nil {
		return r, t, nil
	}
	return decodeCareful(body)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// decodeCareful decodes an envelope field by field, so that whatever is wrong with it gets
// its own message.
func decodeCareful(body []byte) (*Request, *checkedTarget, error) {
	var elems []json.RawMessage
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, nil, &EnvelopeError{Reason: "body is not a JSON array"}
	}
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, nil, &EnvelopeError{Reason: "body is not a JSON array: " + jsonReason(err)}
	}
	// Before any field is read: encoding/json would read the last of two.
	switch rep, ok := findRepeatedKey(body); {
	case !ok: // valid JSON the scanner cannot vouch for (larger than 2 GB): fail closed
		return nil, nil, &EnvelopeError{Reason: "body is too large to be read"}
	case rep != nil:
		return nil, nil, &EnvelopeError{RequestID: unambiguousID(elems, rep), Reason: rep.reason()}
	}
	if len(elems) == 0 {
		return nil, nil, &EnvelopeError{Reason: "body is an empty array; want [request, securityContext]"}
	}
	var w wireRequest
	if !isObject(elems[0]) {
		return nil, nil, &EnvelopeError{Reason: "request (element 0) is not a JSON object"}
	}
	if err := json.Unmarshal(elems[0], &w); err != nil {
		return nil, nil, &EnvelopeError{Reason: "request (element 0): " + jsonReason(err)}
	}
	r := &Request{}
	fail := func(format string, args ...any) (*Request, *checkedTarget, error) {
		return nil, nil, &EnvelopeError{RequestID: r.ID, Reason: fmt.Sprintf(format, args...)}
	}
	var err error
	// The id first, so that every later error can name the request.
	if r.ID, err = stringField(w.ID, "id"); err != nil {
		return fail("%v", err)
	}
	if r.ID == "" {
		return fail("request id missing")
	}
	if len(elems) != 2 {
		return fail("body has %d elements; want [request, securityContext]", len(elems))
	}
	if r.Method, err = stringField(w.Method, "method"); err != nil {
		return fail("%v", err)
	}
	if r.RequestURI, err = stringField(w.RequestURI, "requestUri"); err != nil {
		return fail("%v", err)
	}
	if r.QueryString, err = stringField(w.QueryString, "queryString"); err != nil {
		return fail("%v", err)
	}
	// VCD sends the query without '?', but a leading one is unambiguous.
	r.QueryString = strings.TrimPrefix(r.QueryString, "?")
	if r.Header, err = decodeHeaders(w.Headers); err != nil {
		return fail("%v", err)
	}
	b64, err := stringField(w.Body, "body")
	if err != nil {
		return fail("%v", err)
	}
	if r.Body, err = decodeBase64(b64); err != nil {
		return fail("body is not valid base64")
	}
	for _, f := range []struct {
		raw  json.RawMessage
		name string
		dst  *string
	}{
		{w.Scheme, "scheme", &r.Scheme}, {w.Protocol, "protocol", &r.Protocol},
		{w.LocalAddr, "localAddr", &r.LocalAddr}, {w.RemoteAddr, "remoteAddr", &r.RemoteAddr},
	} {
		if *f.dst, err = stringField(f.raw, f.name); err != nil {
			return fail("%v", err)
		}
	}
	r.LocalPort = port(w.LocalPort)
	r.RemotePort = port(w.RemotePort)

	if r.Caller, err = decodeCaller(elems[1]); err != nil {
		return fail("%v", err)
	}
	t, err := r.check()
	if err != nil {
		return fail("%v", err)
	}
	return r, t, nil
}

// unambiguousID returns the request id of an envelope with a repeated key, for the reply,
// unless the id is what is repeated.
func unambiguousID(elems []json.RawMessage, rep *repeatedKey) string {
	if rep.where == "request" && string(foldKey(rep.second)) == "ID" {
		return ""
	}
	var w struct {
		ID json.RawMessage `json:"id"`
	}
	if len(elems) == 0 || !isObject(elems[0]) || json.Unmarshal(elems[0], &w) != nil {
		return ""
	}
	id, _ := stringField(w.ID, "id")
	return id
}

func decodeCaller(raw json.RawMessage) (ingress.Caller, error) {
	var c ingress.Caller
	if !isObject(raw) {
		return c, fmt.Errorf("securityContext (element 1) is not a JSON object")
	}
	var w wireSecurityContext
	if err := json.Unmarshal(raw, &w); err != nil {
		return c, fmt.Errorf("securityContext: %s", jsonReason(err))
	}
	var err error
	if c.User, err = stringField(w.User, "securityContext.user"); err != nil {
		return c, err
	}
	if c.Org, err = stringField(w.Org, "securityContext.org"); err != nil {
		return c, err
	}
	// VCD authenticated the caller; a message without one did not come through that path,
	// so fail closed here rather than hand the API an anonymous caller.
	if c.User == "" {
		return c, fmt.Errorf("securityContext.user missing")
	}
	if c.Org == "" {
		return c, fmt.Errorf("securityContext.org missing")
	}
	// Canonical once, here: every comparison after this one is exact.
	user, ok := ingress.CanonicalURN("user", c.User)
	if !ok {
		return c, fmt.Errorf("securityContext.user %q is not a user URN (urn:vcloud:user:<uuid>)", truncate(c.User))
	}
	org, ok := ingress.CanonicalURN("org", c.Org)
	if !ok {
		return c, fmt.Errorf("securityContext.org %q is not an org URN (urn:vcloud:org:<uuid>)", truncate(c.Org))
	}
	c.User, c.Org = user, org
	if len(w.Rights) > 0 && !isNull(w.Rights) {
		if err := json.Unmarshal(w.Rights, &c.Rights); err != nil {
			return c, fmt.Errorf("securityContext.rights is not an array of strings")
		}
	}
	return c, nil
}

// decodeHeaders accepts VCD's name→string map and, to be tolerant, numbers and booleans
// (kept as their JSON text) and arrays of strings (multiple values); null values are skipped.
func decodeHeaders(raw json.RawMessage) (http.Header, error) {
	h := http.Header{}
	if len(raw) == 0 || isNull(raw) {
		return h, nil
	}
	var m map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &m) != nil {
		return nil, fmt.Errorf("headers is not a JSON object")
	}
	for name, v := range m {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("header name %q is not a valid HTTP token", name)
		}
		var vals []string
		switch {
		case isNull(v):
			continue
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("header %s: %s", name, jsonReason(err))
			}
			vals = []string{s}
		case len(v) > 0 && v[0] == '[':
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, fmt.Errorf("header %s is not a string or an array of strings", name)
			}
		case len(v) > 0 && v[0] != '{':
			vals = []string{string(v)} // number or boolean, as written
		default:
			return nil, fmt.Errorf("header %s is not a string", name)
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		for _, s := range vals {
			if !validHeaderValue(s) {
				return nil, fmt.Errorf("header %s has a control character in its value", name)
			}
			h[key] = append(h[key], s)
		}
	}
	return h, nil
}

// HTTPRequest builds the request the API handler sees, as net/http's server would have built
// it: path-only URL, RequestURI, Host taken out of the headers, RemoteAddr, and a body that
// can be read again through GetBody. The caller is on the context (see [ingress.CallerFrom]).
func (r *Request) HTTPRequest(ctx context.Context) (*http.Request, error) {
	t, err := r.check()
	if err != nil {
		return nil, &EnvelopeError{RequestID: r.ID, Reason: err.Error()}
	}
	return r.httpRequest(ctx, t, true), nil
}

// httpRequest is HTTPRequest for a request whose check returned t. With cloneHeader false
// the request takes r.Header over instead of copying it, and r.Header must not be used
// afterwards: the consumer's way, as it has no further use for it.
func (r *Request) httpRequest(ctx context.Context, t *checkedTarget, cloneHeader bool) *http.Request {
	target := t.target
	u := new(url.URL)
	*u = t.url // each request its own, as handlers may change it
	var body io.ReadCloser = http.NoBody
	getBody := func() (io.ReadCloser, error) { return http.NoBody, nil }
	if len(r.Body) > 0 {
		b := r.Body
		body = io.NopCloser(bytes.NewReader(b))
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	major, minor, ok := http.ParseHTTPVersion(r.Protocol)
	proto := r.Protocol
	if !ok {
		proto, major, minor = "HTTP/1.1", 1, 1
	}
	h := r.Header
	if cloneHeader {
		h = h.Clone()
	}
	if h == nil {
		h = http.Header{}
	}
	// net/http's server moves Host out of the header map into Request.Host.
	host := h.Get("Host")
	h.Del("Host")
	var remote string
	if r.RemoteAddr != "" {
		remote = net.JoinHostPort(r.RemoteAddr, strconv.Itoa(r.RemotePort))
	}
	hr := &http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        h,
		Body:          body,
		GetBody:       getBody,
		ContentLength: int64(len(r.Body)),
		Host:          host,
		RemoteAddr:    remote,
		RequestURI:    target,
	}
	return hr.WithContext(ingress.WithRequestID(ingress.WithCaller(ctx, r.Caller), r.ID))
}

// check checks the method and the HTTP request-target, requestUri plus the query, well
// enough that url.ParseRequestURI and net/http accept them, and returns the target parsed.
func (r *Request) check() (*checkedTarget, error) {
	if r.RequestURI == "" {
		return nil, fmt.Errorf("requestUri missing")
	}
	if r.RequestURI[0] != '/' {
		return nil, fmt.Errorf("requestUri %q is not an absolute path", truncate(r.RequestURI))
	}
	if !validMethod(r.Method) {
		if r.Method == "" {
			return nil, fmt.Errorf("method missing")
		}
		return nil, fmt.Errorf("method %q is not a valid HTTP method", truncate(r.Method))
	}
	t := r.RequestURI
	if r.QueryString != "" {
		t += "?" + r.QueryString
	}
	for i := 0; i < len(t); i++ {
		// A real request line cannot carry these; net/url rejects some, not all.
		if c := t[i]; c <= ' ' || c == 0x7f {
			return nil, fmt.Errorf("requestUri or queryString contains a space or control character")
		}
	}
	u, err := url.ParseRequestURI(t)
	if err != nil {
		return nil, fmt.Errorf("requestUri and queryString do not form a URL")
	}
	return &checkedTarget{target: t, url: *u}, nil
}

// stringField reads an optional string: absent or null is "".
func stringField(raw json.RawMessage, name string) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %s", name, jsonReason(err))
	}
	return s, nil
}

// port reads a port given as a number or a numeric string; anything else is 0.
func port(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 65535 {
		return 0
	}
	return n
}

// decodeBase64 accepts standard base64 with or without padding. Go's decoder already skips
// the CR/LF that Java's MIME encoder inserts.
func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// jsonReason keeps JSON errors short and free of the input: messages go back to VCD users.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %s has the wrong type", te.Field)
		}
		return "wrong JSON type"
	default:
		return "invalid JSON"
	}
}

func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validMethod reports whether m is an RFC 9110 token, as net/http requires.
func validMethod(m string) bool { return m != "" && isToken(m) }

func validHeaderName(n string) bool { return n != "" && isToken(n) }

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue rejects what net/http's server would: control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
