// Package recipe reads and checks template recipes: the files (deploy/recipes/*.yaml) in
// which a provider says how kaas builds a template (base OS image, Kubernetes, containerd
// and CNI versions, defaults for clusters' VMs, the provider's own scripts), and the
// metadata a provider gives for an imported OVA.
//
// Parse reads a recipe strictly: a key kaas does not know is refused rather than ignored,
// so a misspelt key cannot silently build something else. Validate checks every value for
// what it is, because each one ends up in a VM's user data, a shell script's environment,
// a catalog item's metadata or a VCD request: its errors name the field at fault
// (cni.manifest: must be an https URL), one per fault, joined.
package recipe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/events"
)

// MaxSize bounds a recipe file. The recipe travels whole in the build's user data (VCD
// keeps it in the VM's guestinfo) and in the build's first event.
const MaxSize = 64 << 10

// Parse reads a recipe file, YAML or JSON (JSON is YAML): one document, of at most
// MaxSize bytes, whose keys are exactly the recipe's (case included). It does not judge
// the values: Validate does.
func Parse(data []byte) (events.Recipe, error) {
	r, err := parse(data)
	if err != nil {
		return events.Recipe{}, fmt.Errorf("recipe: %w", err)
	}
	return r, nil
}

func parse(data []byte) (events.Recipe, error) {
	if len(data) > MaxSize {
		return events.Recipe{}, fmt.Errorf("%d bytes, more than %d", len(data), MaxSize)
	}
	if err := oneDocument(data); err != nil {
		return events.Recipe{}, err
	}
	// The YAML → JSON conversion refuses duplicate keys; the JSON decoder then types the
	// values (a number where a string belongs is an error, not a conversion).
	js, err := sigsyaml.YAMLToJSONStrict(data)
	if err != nil {
		return events.Recipe{}, err
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return events.Recipe{}, err
	}
	if _, ok := generic.(map[string]any); !ok {
		return events.Recipe{}, errors.New("not a mapping of keys to values")
	}
	// encoding/json matches keys regardless of case: the exact keys are checked first.
	if err := knownKeys(generic, reflect.TypeFor[events.Recipe](), ""); err != nil {
		return events.Recipe{}, err
	}
	var r events.Recipe
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return events.Recipe{}, err
	}
	// An empty list and no list are the same recipe.
	if len(r.Scripts) == 0 {
		r.Scripts = nil
	}
	return r, nil
}

// oneDocument refuses a stream of several YAML documents: sigs.k8s.io/yaml would read the
// first and drop the others without a word.
func oneDocument(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty")
		}
		return err
	}
	if err := dec.Decode(&n); !errors.Is(err, io.EOF) {
		if err == nil {
			return errors.New("more than one YAML document")
		}
		return err
	}
	return nil
}

// knownKeys checks that every key of the decoded JSON value v is a field of the Go type t,
// spelt as its json tag, at every depth.
func knownKeys(v any, t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // the typed decode says what is wrong
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown key", join(path, k))
			}
			if err := knownKeys(m[k], ft, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range l {
			if err := knownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
