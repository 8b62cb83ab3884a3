package vcdext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A message that gives a key twice is refused: encoding/json keeps the last, so a security
// context with the tenant's org and then the System org would read as a provider's, and a
// second requestUri would route the call elsewhere. Keys compare as encoding/json matches
// them to fields, after undoing escapes and without case (Unicode simple folding: "ID" and
// "id", "uſer" and "user" are one field), at every level; header names, being ASCII
// tokens, compare without case as HTTP's do.

// repeatedKey is a key given twice in one object.
type repeatedKey struct {
	where         string // e.g. securityContext, request.headers
	first, second string // the two spellings, escapes undone
}

// maxWhere bounds the path that names where a repeated key is: deep nesting makes it
// long, and it goes back to the caller.
const maxWhere = 256

// within names where the key is from the value at index that holds it, as segment.
func (e *repeatedKey) within(index int, segment string) {
	if len(e.where) < maxWhere {
		e.where = segment + e.where
	} else if !strings.HasPrefix(e.where, "…") {
		e.where = "…" + e.where // and no more: the path from the top is cut
	}
	e.where = where(index, e.where)
}

func (e *repeatedKey) reason() string {
	what := "key"
	if e.where == "request.headers" {
		what = "header"
	}
	msg := fmt.Sprintf("%s %q appears twice in %s", what, truncate(e.second), e.where)
	if e.first != e.second {
		msg += fmt.Sprintf(" (as %q; names compare without case)", truncate(e.first))
	}
	return msg
}

// maxDepth is encoding/json's nesting limit; deeper input is not JSON it reads.
const maxDepth = 10000

// smallObject is how many keys an object may have before its keys go into a map: below it,
// comparing each new key with the others is cheaper than hashing.
const smallObject = 24

// keyScan reads a JSON text once, without decoding it, to find a key given twice. It
// allocates nothing for an envelope of the usual shape.
type keyScan struct {
	b     []byte
	i     int
	depth int
	// The keys of the objects being read, innermost last: n of them, the first in buf.
	// (A slice of buf kept in the scanner would move the scanner to the heap.)
	n     int
	buf   [48]scannedKey
	more  []scannedKey
	folds [][]byte // the folded forms of keys with escapes or non-ASCII characters
}

func (s *keyScan) key(j int) *scannedKey {
	if j < len(s.buf) {
		return &s.buf[j]
	}
	return &s.more[j-len(s.buf)]
}

func (s *keyScan) push(k scannedKey) {
	if s.n < len(s.buf) {
		s.buf[s.n] = k
	} else {
		s.more = append(s.more[:s.n-len(s.buf)], k)
	}
	s.n++
}

// scannedKey is a key as written. Keys with escapes or non-ASCII characters have their
// folded form in folds; for the others folding is ASCII upper case, done while comparing.
// It holds no pointer, so that recording one is a plain store.
type scannedKey struct {
	start, end int32  // the key between its quotes
	sig        uint32 // the folded form's length and first byte: keys that differ in it differ
	fold       int32  // index in folds, or -1
}

func (s *keyScan) raw(k *scannedKey) []byte { return s.b[k.start:k.end] }

// folded returns k's folded form, computing it for a plain key.
func (s *keyScan) folded(k *scannedKey) []byte {
	if k.fold >= 0 {
		return s.folds[k.fold]
	}
	return foldKey(string(s.raw(k)))
}

func signature(folded []byte) uint32 {
	if len(folded) == 0 {
		return 0
	}
	return uint32(len(folded))<<8 | uint32(folded[0])
}

// findRepeatedKey returns the first key given twice in body, or nil. ok is false when body
// is not JSON (or not JSON the scanner reads): then nothing is known.
func findRepeatedKey(body []byte) (rep *repeatedKey, ok bool) {
	if len(body) > math.MaxInt32 { // keys are recorded by 32-bit offsets
		return nil, false
	}
	s := keyScan{b: body}
	rep, ok = s.value(top)
	if !ok {
		return nil, false
	}
	if rep != nil {
		return rep, true
	}
	s.ws()
	return nil, s.i == len(s.b)
}

func (s *keyScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Where a value is, for naming where a repeated key is: the whole body (top), an element
// of the top-level array (its index), or anything else (inner), whose path its parents add.
const (
	top   = -2
	inner = -1
)

// value reads one value; index says where it is.
func (s *keyScan) value(index int) (*repeatedKey, bool) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, _, ok := s.str()
		return nil, ok
	case '{':
		return s.object(index)
	case '[':
		return s.array(index)
	default:
		// A number or literal: up to the next delimiter; encoding/json checks its form.
		start := s.i
		for s.i < len(s.b) {
			if c := s.b[s.i]; c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			s.i++
		}
		return nil, s.i > start
	}
}

// str reads a string at s.i and returns where its content is and whether it is plain:
// no escapes, ASCII only.
func (s *keyScan) str() (start int, plain, ok bool) {
	start = s.i + 1
	plain = true
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return start, plain, true
		case c == '\\':
			plain = false
			i++ // the escaped character; \uXXXX's digits need no care
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return start, false, false
}

// skipStr reads a string value, whose content does not matter, a block at a time: a body
// of a megabyte is one string.
func (s *keyScan) skipStr() bool {
	i := s.i + 1
	for {
		j := bytes.IndexByte(s.b[i:], '"')
		if j < 0 {
			return false
		}
		i += j
		// The quote ends the string unless an odd number of backslashes escapes it.
		k := i
		for k > s.i+1 && s.b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			s.i = i + 1
			return true
		}
		i++
	}
}

func (s *keyScan) array(index int) (*repeatedKey, bool) {
	if s.depth++; s.depth > maxDepth {
		return nil, false
	}
	rep, ok := s.elements(index)
	s.depth--
	return rep, ok
}

func (s *keyScan) elements(index int) (*repeatedKey, bool) {
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil, true
	}
	for n := 0; ; n++ {
		elem := inner
		if index == top {
			elem = n // the envelope's request, security context, …
		}
		var rep *repeatedKey
		var ok bool
		if s.ws(); s.i < len(s.b) && s.b[s.i] == '"' {
			ok = s.skipStr()
		} else {
			rep, ok = s.value(elem)
		}
		if !ok {
			return nil, false
		}
		if rep != nil {
			if index != top { // else the element named itself
				rep.within(index, "["+strconv.Itoa(n)+"]")
			}
			return rep, true
		}
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil, true
		default:
			return nil, false
		}
	}
}

// object reads an object, checking each key against the object's others.
func (s *keyScan) object(index int) (*repeatedKey, bool) {
	if s.depth++; s.depth > maxDepth {
		return nil, false
	}
	first := s.n
	rep, ok := s.members(index, first)
	s.n = first
	s.depth--
	return rep, ok
}

// members reads an object's members; its keys go to the scanner's from first on.
func (s *keyScan) members(index, first int) (*repeatedKey, bool) {
	s.i++ // '{'
	// Once the object is large: folded key → index of the key in the scanner's.
	var many map[string]int
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		if n == 0 && s.b[s.i] == '}' {
			s.i++
			return nil, true
		}
		if s.b[s.i] != '"' {
			return nil, false
		}
		start, plain, ok := s.str()
		if !ok {
			return nil, false
		}
		k := scannedKey{start: int32(start), end: int32(s.i - 1), fold: -1}
		if plain {
			if k.end > k.start {
				k.sig = uint32(k.end-k.start)<<8 | uint32(upper(s.b[k.start]))
			}
		} else {
			f := foldKey(s.unquote(&k))
			k.fold, k.sig = int32(len(s.folds)), signature(f)
			s.folds = append(s.folds, f)
		}
		prev := -1
		switch {
		case many != nil:
			f := s.folded(&k)
			if j, dup := many[string(f)]; dup {
				prev = j
			} else {
				many[string(f)] = s.n
			}
		default:
			for j := first; j < s.n; j++ {
				if o := s.key(j); o.sig == k.sig && s.same(o, &k) {
					prev = j
					break
				}
			}
			if prev < 0 && s.n-first == smallObject {
				many = make(map[string]int, 2*smallObject)
				for j := first; j < s.n; j++ {
					many[string(s.folded(s.key(j)))] = j
				}
				many[string(s.folded(&k))] = s.n
			}
		}
		if prev >= 0 {
			return &repeatedKey{where: where(index, ""), first: s.unquote(s.key(prev)), second: s.unquote(&k)}, true
		}
		s.push(k)
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.ws()
		var rep *repeatedKey
		if s.i < len(s.b) && s.b[s.i] == '"' {
			ok = s.skipStr()
		} else {
			rep, ok = s.value(inner)
		}
		if !ok {
			return nil, false
		}
		if rep != nil {
			rep.within(index, "."+truncate(s.unquote(&k)))
			return rep, true
		}
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil, true
		default:
			return nil, false
		}
	}
}

// where names a value at index with path below it: the top-level array's first two
// elements by their roles, anything inside by its path from them. An inner value's name is
// the path alone, which its parents complete.
func where(index int, path string) string {
	switch index {
	case inner:
		return path
	case top:
		return "body" + path
	case 0:
		return "request" + path
	case 1:
		return "securityContext" + path
	}
	return "element " + strconv.Itoa(index) + path
}

// same reports whether two keys name the same field.
func (s *keyScan) same(a, b *scannedKey) bool {
	switch {
	case a.fold < 0 && b.fold < 0:
		return asciiEqualFold(s.raw(a), s.raw(b))
	case a.fold < 0:
		return foldedEqualsPlain(s.folds[b.fold], s.raw(a))
	case b.fold < 0:
		return foldedEqualsPlain(s.folds[a.fold], s.raw(b))
	}
	return bytes.Equal(s.folds[a.fold], s.folds[b.fold])
}

// unquote returns k with its escapes undone, as encoding/json reads it (invalid UTF-8
// becomes U+FFFD).
func (s *keyScan) unquote(k *scannedKey) string {
	var out string
	// A copy, so that the scanner's memory does not leak to the decoder and stays on the
	// stack.
	if json.Unmarshal(bytes.Clone(s.b[k.start-1:k.end+1]), &out) != nil {
		return string(s.b[k.start:k.end])
	}
	return out
}

func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if upper(a[i]) != upper(b[i]) {
			return false
		}
	}
	return true
}

// foldedEqualsPlain compares a folded key with a plain (ASCII) one.
func foldedEqualsPlain(folded, plain []byte) bool {
	if len(folded) != len(plain) {
		return false
	}
	for i := range plain {
		if folded[i] != upper(plain[i]) {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// foldKey returns a form of k shared by exactly the keys that encoding/json takes for the
// same field name: ASCII letters in upper case, every other character as the smallest of
// the characters its case folds to.
func foldKey(k string) []byte {
	out := make([]byte, 0, len(k))
	for _, r := range k {
		if r < utf8.RuneSelf {
			out = append(out, upper(byte(r)))
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = utf8.AppendRune(out, least)
	}
	return out
}
