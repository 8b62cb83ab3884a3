package cse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/kaasproject/kaas/events"
)

// FieldError is a request payload problem, named by the field's path in the payload.
type FieldError struct {
	Path    string
	Problem string
	Minor   int
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

func fieldErr(path string, minor int, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Problem: fmt.Sprintf(format, args...), Minor: minor}
}

// MaxBody is the largest request body kaas reads; a cluster spec is a few KB.
const MaxBody = 1 << 20

// DecodeEntity decodes a v2.x native cluster entity strictly: the body must be one JSON
// object, every field must be known and of the right type. Errors are *FieldError.
func DecodeEntity(body []byte) (NativeEntity, error) {
	var e NativeEntity
	if len(bytes.TrimSpace(body)) == 0 {
		return e, fieldErr("", MinorDefault, "the request has no body: send the cluster specification as JSON")
	}
	if len(body) > MaxBody {
		return e, fieldErr("", MinorDefault, "the request body is larger than %d bytes", MaxBody)
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(body) || trimmed[0] != '{' {
		// The slow path only explains what is wrong.
		var raw any
		if err := json.Unmarshal(body, &raw); err != nil {
			return e, fieldErr("", MinorDefault, "the body is not valid JSON: %v", err)
		}
		return e, fieldErr("", MinorDefault, "the body must be a JSON object, not %s", jsonKind(raw))
	}
	sc := scanner{b: body}
	if path, problem := sc.check(reflect.TypeOf(e), ""); problem != "" {
		return e, fieldErr(path, MinorDefault, "%s", problem)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return e, fieldErr(te.Field, MinorDefault, "expected %s, got %s", kindName(te.Type), te.Value)
		}
		return e, fieldErr("", MinorDefault, "the body cannot be read: %v", err)
	}
	return e, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "an object"
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

// fieldTables caches, per struct type, its fields by JSON name.
var fieldTables sync.Map // reflect.Type → map[string]reflect.Type

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldTables.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fields[name] = t.Field(i).Type
	}
	fieldTables.Store(t, fields)
	return fields
}

// scanner walks a body that json.Valid accepted, checking it against the Go type before
// the body is decoded into it, so that an unknown, repeated or mistyped field is reported
// with its full path, array indexes included (Go's decoder drops them, matches keys without
// case, and keeps the last of repeated keys, which would let a misspelt field hide behind a
// correct one). It reads the bytes once and allocates little: it runs on every request.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// str reads a string token and returns its raw content (escapes undone only when present).
func (s *scanner) str() []byte {
	start := s.i + 1
	escaped := false
	for s.i = start; s.b[s.i] != '"'; s.i++ {
		if s.b[s.i] == '\\' {
			escaped = true
			s.i++
		}
	}
	raw := s.b[start:s.i]
	s.i++
	if escaped {
		var out string
		_ = json.Unmarshal(s.b[start-1:s.i], &out)
		return []byte(out)
	}
	return raw
}

// skip passes over one value of any kind.
func (s *scanner) skip() {
	s.ws()
	switch c := s.b[s.i]; {
	case c == '"':
		s.str()
	case c == '{' || c == '[':
		s.i++
		s.ws()
		for s.b[s.i] != '}' && s.b[s.i] != ']' {
			if c == '{' {
				s.ws()
				s.str()
				s.ws()
				s.i++ // ':'
			}
			s.skip()
			s.ws()
			if s.b[s.i] == ',' {
				s.i++
				s.ws()
			}
		}
		s.i++
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\r\n", rune(s.b[s.i])) {
			s.i++
		}
	}
}

// kind names the JSON kind of the next value as Go's decoder does in its errors.
func (s *scanner) kind() string {
	switch c := s.b[s.i]; c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// check reads one value and returns the first problem with it, in document order.
func (s *scanner) check(t reflect.Type, path string) (at, problem string) {
	s.ws()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s.b[s.i] == 'n' { // null leaves a field unset
		s.i += 4
		return "", ""
	}
	mismatch := func() (string, string) {
		return path, fmt.Sprintf("expected %s, got %s", kindName(t), s.kind())
	}
	switch t.Kind() {
	case reflect.Struct:
		if s.b[s.i] != '{' {
			return mismatch()
		}
		s.i++
		fields := fieldsOf(t)
		var seen [][]byte
		for {
			s.ws()
			if s.b[s.i] == '}' {
				s.i++
				return "", ""
			}
			if s.b[s.i] == ',' {
				s.i++
				s.ws()
			}
			k := s.str()
			for _, prev := range seen {
				if bytes.Equal(prev, k) {
					return join(path, string(k)), "given twice"
				}
			}
			seen = append(seen, k)
			s.ws()
			s.i++ // ':'
			ft, ok := fields[string(k)]
			if !ok {
				return join(path, string(k)), "unknown field"
			}
			if at, problem := s.check(ft, join(path, string(k))); problem != "" {
				return at, problem
			}
		}
	case reflect.Slice:
		if s.b[s.i] != '[' {
			return mismatch()
		}
		s.i++
		for i := 0; ; i++ {
			s.ws()
			if s.b[s.i] == ']' {
				s.i++
				return "", ""
			}
			if s.b[s.i] == ',' {
				s.i++
			}
			if at, problem := s.check(t.Elem(), path+"["+strconv.Itoa(i)+"]"); problem != "" {
				return at, problem
			}
		}
	case reflect.String:
		if s.b[s.i] != '"' {
			return mismatch()
		}
		s.str()
	case reflect.Bool:
		if s.b[s.i] != 't' && s.b[s.i] != 'f' {
			return mismatch()
		}
		s.skip()
	case reflect.Int:
		if k := s.kind(); k != "number" {
			return mismatch()
		}
		start := s.i
		s.skip()
		n := string(s.b[start:s.i])
		if _, err := strconv.ParseInt(n, 10, 54); err != nil {
			return path, "expected an integer, got number " + n
		}
	default:
		s.skip()
	}
	return "", ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkVersion accepts the payload versions kaas serves.
func checkVersion(e NativeEntity) error {
	switch {
	case e.APIVersion == "":
		return fieldErr("apiVersion", MinorDefault, "missing: kaas serves %s entities (v1.0 payloads are not supported)", APIVersion21)
	case e.APIVersion != APIVersion21 && e.APIVersion != APIVersion20:
		return fieldErr("apiVersion", MinorDefault, "Unsupported payload version: %s (use %s)", e.APIVersion, APIVersion21)
	case e.Kind != "" && e.Kind != KindNative:
		return fieldErr("kind", MinorDefault, "kind %q is not supported: kaas provisions %q clusters", e.Kind, KindNative)
	}
	return nil
}

// ToSpec turns a create request into kaas's cluster spec, applying CSE's defaults (one
// control plane, no workers or NFS nodes, rollback on failure) and checking that what
// CSE requires is there. It does not judge values (names, counts): the aggregate does.
func ToSpec(e NativeEntity) (events.ClusterSpec, error) {
	if err := checkVersion(e); err != nil {
		return events.ClusterSpec{}, err
	}
	s := events.ClusterSpec{
		Name: e.Metadata.Name, OrgName: e.Metadata.OrgName, VDC: e.Metadata.VirtualDataCenterName, Site: e.Metadata.Site,
		ControlPlane: events.NodePool{Count: 1}, RollbackOnFailure: true,
	}
	switch {
	case s.Name == "":
		return s, fieldErr("metadata.name", MinorClusterNameMissing, "missing: the cluster needs a name")
	case s.OrgName == "":
		return s, fieldErr("metadata.orgName", MinorOrgNameMissing, "missing: name the organization")
	case s.VDC == "":
		return s, fieldErr("metadata.virtualDataCenterName", MinorOvdcNameMissing, "missing: name the org VDC")
	case e.Spec.Settings == nil || deref(e.Spec.Settings.OvdcNetwork) == "":
		return s, fieldErr("spec.settings.ovdcNetwork", MinorNetworkNameMissing, "missing: name the org VDC network")
	case e.Spec.Distribution == nil || deref(e.Spec.Distribution.TemplateName) == "":
		return s, fieldErr("spec.distribution.templateName", MinorDefault, "missing: name the template")
	case e.Spec.Distribution.TemplateRevision == nil:
		return s, fieldErr("spec.distribution.templateRevision", MinorDefault, "missing: give the template revision")
	}
	return merge(s, e)
}

// Merge applies an update request (CSE's "apply" of the whole entity) to the current spec:
// a field that is absent or null keeps its current value, as in CSE.
func Merge(current events.ClusterSpec, e NativeEntity) (events.ClusterSpec, error) {
	if err := checkVersion(e); err != nil {
		return current, err
	}
	s := current
	s.PodCIDRs, s.ServiceCIDRs = append([]string(nil), current.PodCIDRs...), append([]string(nil), current.ServiceCIDRs...)
	if e.Metadata.Name != "" {
		s.Name = e.Metadata.Name
	}
	if e.Metadata.OrgName != "" {
		s.OrgName = e.Metadata.OrgName
	}
	if e.Metadata.VirtualDataCenterName != "" {
		s.VDC = e.Metadata.VirtualDataCenterName
	}
	if e.Metadata.Site != "" {
		s.Site = e.Metadata.Site
	}
	return merge(s, e)
}

func merge(s events.ClusterSpec, e NativeEntity) (events.ClusterSpec, error) {
	if d := e.Spec.Distribution; d != nil {
		setStr(&s.Template.Name, d.TemplateName)
		setInt(&s.Template.Revision, d.TemplateRevision)
	}
	if t := e.Spec.Topology; t != nil {
		for _, p := range []struct {
			path string
			in   *NodePool
			out  *events.NodePool
		}{{"spec.topology.controlPlane", t.ControlPlane, &s.ControlPlane}, {"spec.topology.workers", t.Workers, &s.Workers}, {"spec.topology.nfs", t.NFS, &s.NFS}} {
			if p.in == nil {
				continue
			}
			if p.out == &s.NFS && (p.in.CPU != nil || p.in.Memory != nil) {
				return s, fieldErr(p.path, MinorDefault, "NFS nodes are sized by sizingClass only, not cpu or memory")
			}
			if p.in.SizingClass != nil && (p.in.CPU != nil || p.in.Memory != nil) {
				return s, fieldErr(p.path, MinorDefault, "give either sizingClass or cpu and memory, not both")
			}
			// kaas keeps "not given" as 0 (the template's size): an explicit 0 is refused
			// here, not taken for null (the aggregate bounds every other value).
			for _, f := range []struct {
				name string
				v    *int
			}{{"cpu", p.in.CPU}, {"memory", p.in.Memory}} {
				if f.v != nil && *f.v == 0 {
					return s, fieldErr(p.path+"."+f.name, MinorDefault, "%s must be 1 or more, not 0 (leave it out, or null, for the template's size)", f.name)
				}
			}
			setInt(&p.out.Count, p.in.Count)
			setStr(&p.out.SizingClass, p.in.SizingClass)
			setStr(&p.out.StorageProfile, p.in.StorageProfile)
			setInt(&p.out.CPU, p.in.CPU)
			setInt(&p.out.MemoryMB, p.in.Memory)
			if p.out.Count < 0 {
				return s, fieldErr(p.path+".count", MinorNumWorkersInvalid, "must be 0 or more, not %d", p.out.Count)
			}
		}
	}
	if st := e.Spec.Settings; st != nil {
		setStr(&s.Network, st.OvdcNetwork)
		setStr(&s.SSHKey, st.SSHKey)
		if st.RollbackOnFailure != nil {
			s.RollbackOnFailure = *st.RollbackOnFailure
		}
		if st.CNI != nil {
			setStr(&s.CNI.Name, st.CNI.Name)
			setStr(&s.CNI.Version, st.CNI.Version)
		}
		if n := st.Network; n != nil {
			if n.Expose != nil {
				s.Expose = *n.Expose
			}
			if n.Pods != nil && n.Pods.CIDRBlocks != nil {
				s.PodCIDRs = n.Pods.CIDRBlocks
			}
			if n.Services != nil && n.Services.CIDRBlocks != nil {
				s.ServiceCIDRs = n.Services.CIDRBlocks
			}
			if n.CNI != nil && st.CNI == nil {
				// CSE 2.0's place for the CNI: "antrea 1.14" in one string.
				name, version, _ := strings.Cut(deref(n.CNI.Name), " ")
				s.CNI = events.Component{Name: name, Version: version}
			}
		}
	}
	return s, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func setStr(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}

func setInt(dst *int, src *int) {
	if src != nil {
		*dst = *src
	}
}

// ParseClusterID accepts a CSE entity URN or a bare UUID and returns the UUID.
func ParseClusterID(s string) (string, bool) {
	id := strings.TrimPrefix(s, EntityIDPrefix)
	return id, events.ValidClusterID(id)
}

// EntityID returns the CSE entity URN of a cluster.
func EntityID(clusterID string) string { return EntityIDPrefix + clusterID }
