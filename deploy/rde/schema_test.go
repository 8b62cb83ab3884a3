package rde_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/deploy/rde"
	"github.com/kaasproject/kaas/events/cse"
)

func schemaOf(t *testing.T, version string) map[string]any {
	t.Helper()
	for _, et := range rde.EntityTypes(rde.API36) {
		if et.Version == version {
			return et.Schema
		}
	}
	t.Fatalf("no entity type %s", version)
	return nil
}

// at walks a schema down its properties: at(s, "spec", "settings").
func at(t *testing.T, s map[string]any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		props, _ := s["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			t.Fatalf("schema has no property %s", strings.Join(path, "."))
		}
		s = next
	}
	return s
}

func required(s map[string]any) []string {
	var out []string
	for _, r := range s["required"].([]any) {
		out = append(out, r.(string))
	}
	slices.Sort(out)
	return out
}

// The types carry CSE's own constraints (cse-rde.md §1.1): what CSE's clients and VCD's UI
// rely on an entity of the type to hold, and who may write its status.
func TestSchemaKeepsCSERules(t *testing.T) {
	s := schemaOf(t, "2.1.0")
	for _, tt := range []struct {
		path     []string
		required []string
	}{
		{nil, []string{"apiVersion", "kind", "metadata", "spec"}},
		{[]string{"metadata"}, []string{"name", "orgName", "site", "virtualDataCenterName"}},
		{[]string{"spec", "settings"}, []string{"ovdcNetwork"}},
		{[]string{"status"}, []string{"nodes", "uid"}},
	} {
		if got := required(at(t, s, tt.path...)); !slices.Equal(got, tt.required) {
			t.Errorf("%v requires %v, want %v", tt.path, got, tt.required)
		}
	}
	for _, p := range [][]string{nil, {"spec"}, {"status"}} {
		if at(t, s, p...)["additionalProperties"] != true {
			t.Errorf("%v does not allow additional properties", p)
		}
	}
	if got := at(t, s, "status")["x-vcloud-restricted"]; got != "protected" {
		t.Errorf("status is %v, want protected", got)
	}
	if got := at(t, s, "status", "private")["x-vcloud-restricted"]; got != "private" {
		t.Errorf("status.private is %v, want private", got)
	}
	var kinds []string
	for _, k := range at(t, s, "kind")["enum"].([]any) {
		kinds = append(kinds, k.(string))
	}
	if want := []string{"native", "TanzuKubernetesCluster", "TKG+", "TKGm"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	v1 := schemaOf(t, "1.0.0")
	if got := required(v1); !slices.Equal(got, []string{"api_version", "kind", "metadata", "spec"}) {
		t.Errorf("1.0.0 requires %v", got)
	}
	if got := at(t, v1, "status")["x-vcloud-restricted"]; got != "protected" {
		t.Errorf("1.0.0 status is %v, want protected", got)
	}

	for _, et := range rde.EntityTypes(rde.API36) {
		want := []string{rde.InterfaceK8s}
		if et.Version == "2.1.0" {
			want = append(want, rde.InterfaceCSE)
		}
		if et.ID != "urn:vcloud:type:cse:nativeCluster:"+et.Version || !slices.Equal(et.Interfaces, want) {
			t.Errorf("type %s implements %v, want %v", et.ID, et.Interfaces, want)
		}
	}
}

// Every entity kaas renders, in both shapes, is valid for its type: VCD would refuse to
// resolve it otherwise.
func TestRenderedEntitiesMatchSchema(t *testing.T) {
	files, err := filepath.Glob("../../events/cse/testdata/render_*.golden.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("rendered entities: %v %v", files, err)
	}
	v2, v1 := schemaOf(t, "2.1.0"), schemaOf(t, "1.0.0")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ent cse.DefEntity
		if err := json.Unmarshal(b, &ent); err != nil {
			t.Fatal(err)
		}
		if errs := validate(v2, v2, asJSON(t, ent.Entity), "entity"); len(errs) > 0 {
			t.Errorf("%s against 2.1.0: %v", filepath.Base(f), errs)
		}
		if errs := validate(v1, v1, asJSON(t, cse.ToV1(ent).Entity), "entity"); len(errs) > 0 {
			t.Errorf("%s as v1.0 against 1.0.0: %v", filepath.Base(f), errs)
		}
	}
}

// Entities missing what CSE requires, or of the wrong shape, are refused: the check above
// can fail.
func TestSchemaRefusesBadEntities(t *testing.T) {
	b, err := os.ReadFile("../../events/cse/testdata/render_running.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var ent cse.DefEntity
	if err := json.Unmarshal(b, &ent); err != nil {
		t.Fatal(err)
	}
	s := schemaOf(t, "2.1.0")
	for _, tt := range []struct {
		name   string
		change func(e map[string]any)
		want   string
	}{
		{"no site", func(e map[string]any) { delete(e["metadata"].(map[string]any), "site") }, "entity.metadata: site is required"},
		{"no uid", func(e map[string]any) { delete(e["status"].(map[string]any), "uid") }, "entity.status: uid is required"},
		{"no network", func(e map[string]any) {
			delete(e["spec"].(map[string]any)["settings"].(map[string]any), "ovdcNetwork")
		}, "entity.spec.settings: ovdcNetwork is required"},
		{"unknown kind", func(e map[string]any) { e["kind"] = "k3s" }, "entity.kind: k3s is not one of"},
		{"count as text", func(e map[string]any) {
			e["spec"].(map[string]any)["topology"].(map[string]any)["workers"].(map[string]any)["count"] = "2"
		}, "entity.spec.topology.workers.count: string, want [integer null]"},
		{"no apiVersion", func(e map[string]any) { delete(e, "apiVersion") }, "entity: apiVersion is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := asJSON(t, ent.Entity).(map[string]any)
			tt.change(e)
			errs := validate(s, s, e, "entity")
			if !slices.ContainsFunc(errs, func(s string) bool { return strings.HasPrefix(s, tt.want) }) {
				t.Errorf("errors %v, want one starting %q", errs, tt.want)
			}
		})
	}
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validate checks v against the JSON-schema keywords the schemas use: $ref to definitions,
// type, enum, required, properties, items, additionalProperties, minimum and maximum.
func validate(s, root map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		def, ok := root["definitions"].(map[string]any)[name].(map[string]any)
		if !ok {
			return []string{path + ": unknown $ref " + ref}
		}
		return validate(def, root, v, path)
	}
	kind := jsonType(v)
	if t, ok := s["type"]; ok {
		var allowed []string
		switch t := t.(type) {
		case string:
			allowed = []string{t}
		case []any:
			for _, a := range t {
				allowed = append(allowed, a.(string))
			}
		}
		if !slices.Contains(allowed, kind) && !(kind == "integer" && slices.Contains(allowed, "number")) {
			return []string{fmt.Sprintf("%s: %s, want %v", path, kind, allowed)}
		}
	}
	var errs []string
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, v, enum))
	}
	if n, ok := v.(float64); ok {
		if min, ok := s["minimum"].(float64); ok && n < min {
			errs = append(errs, fmt.Sprintf("%s: %v < %v", path, n, min))
		}
		if max, ok := s["maximum"].(float64); ok && n > max {
			errs = append(errs, fmt.Sprintf("%s: %v > %v", path, n, max))
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: %s is required", path, r))
			}
		}
		for k, val := range v {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(ps, root, val, path+"."+k)...)
			} else if s["additionalProperties"] == false {
				errs = append(errs, fmt.Sprintf("%s: %s is not allowed", path, k))
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range v {
				errs = append(errs, validate(items, root, it, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
