package vcdsim

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// FIQL is how cloudapi lists are filtered (cse-rde.md §3.7): `;` is AND and binds tighter
// than `,` (OR), parentheses group, a constraint is `key==value` or `key!=value`, `*` in a
// value is a wildcard and a backslash makes the next character literal (CSE escapes
// `( ) ; ,` so). Keys are dotted paths into the listed object's JSON (name, owner.name,
// entity.metadata.orgName, …); a path through an array matches any of its elements.
// Strings compare without case, as VCD's queries do.

// filterNode is a parsed filter, matched against whatever a source holds for a key: the
// cloudapi's JSON objects and the query service's records share one grammar.
type filterNode interface {
	eval(src filterSource) bool
}

// filterSource gives the values a constraint on key may match. known is false when the
// object has no such attribute at all: the query service then narrows nothing, while a
// JSON object reports every path as known, so that a missing value equals nothing.
type filterSource interface {
	values(key string) (vals []string, known bool)
}

type fiqlAnd []filterNode

func (a fiqlAnd) eval(src filterSource) bool {
	for _, n := range a {
		if !n.eval(src) {
			return false
		}
	}
	return true
}

type fiqlOr []filterNode

func (o fiqlOr) eval(src filterSource) bool {
	for _, n := range o {
		if n.eval(src) {
			return true
		}
	}
	return false
}

// fiqlCmp is one constraint. chunks is the value split at its unescaped wildcards (one
// chunk means equality); text is the value with its escapes undone, for the ordering
// operators.
type fiqlCmp struct {
	key, op string
	chunks  []string
	text    string
}

func (c fiqlCmp) eval(src filterSource) bool {
	vals, known := src.values(c.key)
	if !known {
		return true
	}
	hit := func() bool {
		for _, v := range vals {
			if globMatch(c.chunks, v) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "==":
		return hit()
	case "!=":
		return !hit()
	}
	if len(vals) == 0 {
		return false
	}
	order := compareValues(vals[0], c.text)
	switch c.op {
	case "=lt=":
		return order < 0
	case "=le=":
		return order <= 0
	case "=gt=":
		return order > 0
	}
	return order >= 0 // =ge=
}

// jsonFilter matches decoded JSON objects; nil matches everything.
type jsonFilter interface {
	match(obj any) bool
}

type jsonMatcher struct{ n filterNode }

func (m jsonMatcher) match(obj any) bool { return m.n.eval(jsonSource{obj}) }

// jsonSource reads dotted paths; a path through an array gives every element's value.
type jsonSource struct{ obj any }

func (j jsonSource) values(key string) ([]string, bool) {
	var out []string
	for _, v := range lookup(j.obj, key) {
		if s, ok := scalar(v); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// parseFIQL parses a cloudapi filter as it reads once URL-decoded.
func parseFIQL(s string) (jsonFilter, error) {
	n, err := parseFilterText(s, false)
	if n == nil || err != nil {
		return nil, err
	}
	return jsonMatcher{n}, nil
}

// parseFilterText parses a filter; unescapeTerms URL-decodes each key and value on its own
// once the structure is read (the query service gets filters undecoded).
func parseFilterText(s string, unescapeTerms bool) (filterNode, error) {
	if s == "" {
		return nil, nil
	}
	p := &fiqlParser{s: s, unescape: unescapeTerms}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.i])
	}
	return n, nil
}

type fiqlParser struct {
	s        string
	i        int
	unescape bool
}

func (p *fiqlParser) errf(format string, args ...any) error {
	return fmt.Errorf("at %d of %q: %s", p.i, p.s, fmt.Sprintf(format, args...))
}

func (p *fiqlParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *fiqlParser) or() (filterNode, error) {
	var alts fiqlOr
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
		if !p.peek(',') {
			break
		}
		p.i++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (p *fiqlParser) and() (filterNode, error) {
	var all fiqlAnd
	for {
		n, err := p.term()
		if err != nil {
			return nil, err
		}
		all = append(all, n)
		if !p.peek(';') {
			break
		}
		p.i++
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

func (p *fiqlParser) term() (filterNode, error) {
	if p.peek('(') {
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.peek(')') {
			return nil, p.errf("a group is not closed")
		}
		p.i++
		return n, nil
	}
	return p.constraint()
}

func isSelectorByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

var constraintRE = regexp.MustCompile(`^([^=!]*)(==|!=|=lt=|=le=|=gt=|=ge=)(.*)$`)

func (p *fiqlParser) constraint() (filterNode, error) {
	start := p.i
	for p.i < len(p.s) {
		ch := p.s[p.i]
		if ch == ';' || ch == ',' || ch == ')' || ch == '(' {
			break
		}
		if ch == '\\' {
			if p.i+1 == len(p.s) {
				return nil, p.errf("a backslash ends the filter")
			}
			p.i++
		}
		p.i++
	}
	m := constraintRE.FindStringSubmatch(p.s[start:p.i])
	if m == nil {
		return nil, p.errf("%q is not a constraint (key==value)", p.s[start:p.i])
	}
	key, value := m[1], m[3]
	if p.unescape {
		key, value = queryUnescape(key), queryUnescape(value)
	}
	if key == "" || strings.IndexFunc(key, func(r rune) bool { return r > 0x7f || !isSelectorByte(byte(r)) }) >= 0 {
		return nil, p.errf("%q is not a key", key)
	}
	c := fiqlCmp{key: key, op: m[2]}
	var cur, text strings.Builder
	for i := 0; i < len(value); i++ {
		switch ch := value[i]; {
		case ch == '\\' && i+1 < len(value):
			i++
			cur.WriteByte(value[i])
			text.WriteByte(value[i])
		case ch == '*':
			c.chunks = append(c.chunks, cur.String())
			cur.Reset()
			text.WriteByte(ch)
		default:
			cur.WriteByte(ch)
			text.WriteByte(ch)
		}
	}
	c.chunks, c.text = append(c.chunks, cur.String()), text.String()
	return c, nil
}

// queryUnescape URL-decodes s, or keeps it when it is no valid escape.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// globMatch matches s against a value split at its wildcards, without case.
func globMatch(chunks []string, s string) bool {
	s = strings.ToLower(s)
	if len(chunks) == 1 {
		return s == strings.ToLower(chunks[0])
	}
	low := make([]string, len(chunks))
	for i, c := range chunks {
		low[i] = strings.ToLower(c)
	}
	if !strings.HasPrefix(s, low[0]) {
		return false
	}
	s = s[len(low[0]):]
	for _, c := range low[1 : len(low)-1] {
		i := strings.Index(s, c)
		if i < 0 {
			return false
		}
		s = s[i+len(c):]
	}
	return strings.HasSuffix(s, low[len(low)-1])
}

// lookup follows a dotted path into decoded JSON; arrays on the way fan out.
func lookup(obj any, path string) []any {
	cur := []any{obj}
	for _, k := range strings.Split(path, ".") {
		var next []any
		for _, v := range cur {
			next = append(next, child(v, k)...)
		}
		cur = next
	}
	return cur
}

func child(v any, k string) []any {
	switch v := v.(type) {
	case map[string]any:
		if c, ok := v[k]; ok {
			return []any{c}
		}
	case []any:
		var out []any
		for _, e := range v {
			out = append(out, child(e, k)...)
		}
		return out
	}
	return nil
}

// scalar is a JSON leaf as filters and sorts compare it.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case interface{ String() string }: // json.Number
		return v.String(), true
	}
	return "", false
}

// compareAt orders two objects by the value at a path: numbers as numbers, strings
// without case, a missing value first.
func compareAt(a, b any, path string) int {
	av, aok := first(a, path)
	bv, bok := first(b, path)
	switch {
	case !aok || !bok:
		return cmp.Compare(btoi(aok), btoi(bok))
	}
	if af, err := strconv.ParseFloat(av, 64); err == nil {
		if bf, err := strconv.ParseFloat(bv, 64); err == nil {
			return cmp.Compare(af, bf)
		}
	}
	return cmp.Compare(strings.ToLower(av), strings.ToLower(bv))
}

func first(obj any, path string) (string, bool) {
	for _, v := range lookup(obj, path) {
		if s, ok := scalar(v); ok {
			return s, true
		}
	}
	return "", false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cloudParams reads a query string by hand: Go's parser drops every pair with a `;`, and
// FIQL filters are full of them (vcd-api.md §1.5). Each key and value is URL-decoded once,
// as VCD's servlet container does: CSE quotes values (`%3A`, `%5C%28`), govcd encodes the
// whole filter (`%3D%3D`, `+`), pyvcloud sends `;` and `==` bare.
func cloudParams(raw string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if _, seen := out[k]; !seen {
			out[k] = v
		}
	}
	return out
}
