package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The one-pass decoder reads every golden record exactly as the general one does.
func TestFastAndGeneralDecodeAgree(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden records: %v", err)
	}
	for _, f := range files {
		pretty, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer // as Marshal writes records: compact
		if err := json.Compact(&buf, pretty); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		fast, ok := unmarshalFast(b)
		if !ok {
			t.Errorf("%s: the fast path refused a record kaas wrote", f)
			continue
		}
		general, err := unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Errorf("%s:\n fast    %+v\n general %+v", f, fast, general)
		}
	}
	// What the fast path is not sure of goes the general way.
	for _, b := range []string{`{"data":{"type":"NodeCreated"},"type":"ClusterDeleted","id":"x","clusterId":"c","schemaVersion":1}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":0,"clusterId":"c","data":{}}`, `{"id":"x","type":"Nope"}`} {
		if _, ok := unmarshalFast([]byte(b)); ok {
			t.Errorf("the fast path took %s", b)
		}
	}
}
