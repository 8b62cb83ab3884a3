package vcdsim

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// FIQL is how cloudapi lists are filtered (cse-rde.md §3.7): `;` is AND and binds tighter
// than `,` (OR), parentheses group, a constraint is `key==value` or `key!=value`, `*` in a
// value is a wildcard and a backslash makes the next character literal (CSE escapes
// `( ) ; ,` so). Keys are dotted paths into the listed object's JSON (name, owner.name,
// entity.metadata.orgName, …); a path through an array matches any of its elements.
// Strings compare without case, as VCD's queries do.

// jsonFilter is a parsed filter; nil matches everything.
type jsonFilter interface {
	match(obj any) bool
}

type fiqlAnd []jsonFilter

func (a fiqlAnd) match(obj any) bool {
	for _, n := range a {
		if !n.match(obj) {
			return false
		}
	}
	return true
}

type fiqlOr []jsonFilter

func (o fiqlOr) match(obj any) bool {
	for _, n := range o {
		if n.match(obj) {
			return true
		}
	}
	return false
}

// fiqlCmp is one constraint. chunks is the value split at its unescaped wildcards: one
// chunk means equality.
type fiqlCmp struct {
	key    string
	neg    bool
	chunks []string
}

func (c fiqlCmp) match(obj any) bool {
	hit := false
	for _, v := range lookup(obj, c.key) {
		if s, ok := scalar(v); ok && globMatch(c.chunks, s) {
			hit = true
			break
		}
	}
	return hit != c.neg
}

// parseFIQL parses a filter as it reads once URL-decoded.
func parseFIQL(s string) (jsonFilter, error) {
	if s == "" {
		return nil, nil
	}
	p := &fiqlParser{s: s}
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
	s string
	i int
}

func (p *fiqlParser) errf(format string, args ...any) error {
	return fmt.Errorf("at %d of %q: %s", p.i, p.s, fmt.Sprintf(format, args...))
}

func (p *fiqlParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *fiqlParser) or() (jsonFilter, error) {
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

func (p *fiqlParser) and() (jsonFilter, error) {
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

func (p *fiqlParser) term() (jsonFilter, error) {
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

func (p *fiqlParser) constraint() (jsonFilter, error) {
	start := p.i
	for p.i < len(p.s) && isSelectorByte(p.s[p.i]) {
		p.i++
	}
	c := fiqlCmp{key: p.s[start:p.i]}
	if c.key == "" {
		return nil, p.errf("a constraint needs a key")
	}
	switch {
	case strings.HasPrefix(p.s[p.i:], "=="):
	case strings.HasPrefix(p.s[p.i:], "!="):
		c.neg = true
	default:
		return nil, p.errf("the operator after %q is not == or !=", c.key)
	}
	p.i += 2
	var cur strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		if ch == ';' || ch == ',' || ch == ')' {
			break
		}
		p.i++
		switch ch {
		case '\\':
			if p.i == len(p.s) {
				return nil, p.errf("a backslash ends the filter")
			}
			cur.WriteByte(p.s[p.i])
			p.i++
		case '*':
			c.chunks = append(c.chunks, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	c.chunks = append(c.chunks, cur.String())
	return c, nil
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
