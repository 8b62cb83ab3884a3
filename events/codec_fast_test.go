package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// agree fails unless the fast path reads b exactly as the general one does.
func agree(t *testing.T, what string, b []byte) {
	t.Helper()
	fast, ok := unmarshalFast(b)
	if !ok {
		t.Errorf("%s: the fast path refused a record kaas wrote: %s", what, b)
		return
	}
	general, err := unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(fast, general) {
		t.Errorf("%s:\n fast    %+v\n general %+v", what, fast, general)
	}
}

// The fast decoder reads every golden record, compact or indented, exactly as the general
// one does, and leaves what it is not sure of to the general one.
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
		agree(t, f+" (indented)", pretty)
		var buf bytes.Buffer // as Marshal writes records: compact
		if err := json.Compact(&buf, pretty); err != nil {
			t.Fatal(err)
		}
		agree(t, f, buf.Bytes())
	}
	// What the fast path is not sure of goes the general way.
	for _, b := range []string{
		`{"data":{"type":"NodeCreated"},"type":"ClusterDeleted","id":"x","clusterId":"c","schemaVersion":1}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":0,"clusterId":"c","data":{}}`,
		`{"id":"x","type":"NodeCreated","clusterId":"c","data":{}}`,
		`{"id":"x","type":"Nope","schemaVersion":1,"clusterId":"c","data":{}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":"a","name":"b"}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"Name":"a"}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":"a","extra":1}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":null}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":null}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":"a",}}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":"a"}}x`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{}`,
		`{"id":"x","type":"NodeStarted","schemaVersion":1,"clusterId":"c","data":{"name":"a` + "\x01" + `"}}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":1,"clusterId":"c","data":{"ordinal":1.0}}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":1,"clusterId":"c","data":{"ordinal":01}}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":1,"clusterId":"c","data":{"ordinal":99999999999999999999}}`,
		`{"id":"x","type":"NodeCreated","schemaVersion":1,"clusterId":"c","time":"2026-02-29T00:00:00Z","data":{}}`,
		`{"id":"","type":"NodeCreated","schemaVersion":1,"clusterId":"c","data":{}}`,
	} {
		if _, ok := unmarshalFast([]byte(b)); ok {
			t.Errorf("the fast path took %s", b)
		}
	}
}

func TestFastDecoders(t *testing.T) {
	for name, info := range types {
		d := dec{b: []byte(`{}`)}
		if got := reflect.TypeOf(d.payload([]byte(name))); got != info.goType || d.bad {
			t.Errorf("the fast decoder of %s makes a %v (failed: %v): add its case to dec.payload", name, got, d.bad)
		}
	}
}

// Every field of every payload, filled in with a value of its own, reads the same both
// ways: a decoder that mixes up two fields, or misses one, fails here.
func TestFastDecodeEveryField(t *testing.T) {
	for name, info := range types {
		for variant := range 3 {
			p := reflect.New(info.goType).Elem()
			f := filler{t: t, n: variant}
			if variant < 2 {
				f.fill(p)
			} // variant 2: the zero payload, with its omitted and null fields
			env := sampleEnvelope(p.Interface().(Payload))
			env.Time = env.Time.Add(time.Duration(variant) * 123456 * time.Microsecond)
			if variant == 1 {
				env.OrgID, env.Actor, env.CausationID, env.CorrelationID, env.PrevHash = "", "", "", "", ""
			}
			b, err := Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			agree(t, fmt.Sprintf("%s variant %d", name, variant), b)
		}
	}
}

// filler sets every field to a value unlike the others: counters for numbers, alternating
// booleans, strings that sometimes need unquoting, slices of two.
type filler struct {
	t testing.TB
	n int
}

func (f *filler) fill(v reflect.Value) {
	f.n++
	switch v.Kind() {
	case reflect.String:
		s := fmt.Sprintf("s%d", f.n)
		if f.n%4 == 0 {
			s += ` "quoted" <b>&é` + "\u2028\x01"
		}
		v.SetString(s)
	case reflect.Int:
		v.SetInt(int64(f.n))
	case reflect.Bool:
		v.SetBool(f.n%2 == 0)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 2, 28, 23, 59, 59, f.n*1000, time.UTC)))
			return
		}
		for i := range v.NumField() {
			f.fill(v.Field(i))
		}
	default:
		f.t.Fatalf("a payload has a %v field: teach the fast decoder and this test about it", v.Type())
	}
}

// The fast time parser reads what time's RFC 3339 parser reads, and refuses the rest.
func TestParseUTC(t *testing.T) {
	canonical := map[string]bool{ // as Marshal writes times: the fast parser must take them
		"2026-11-23T12:00:00Z": true, "2026-11-23T12:00:00.5Z": true, "2026-11-23T12:00:00.123456789Z": true,
		"2024-02-29T23:59:59Z": true, "2000-02-29T00:00:00Z": true, "0000-01-01T00:00:00Z": true,
		"0001-01-01T00:00:00Z": true, "9999-12-31T23:59:59.999999999Z": true,
	}
	others := []string{
		"2026-11-23T12:00:00.1234567891Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-12-31T24:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-11-23T12:00:00+01:00", "2026-11-23T12:00:00.Z",
		"2026-11-23T12:00:00,5Z", "2026-11-23 12:00:00Z", "2026-11-23T12:00:0aZ", "+026-11-23T12:00:00Z",
		"2026-11-23T12:00:00z", "2026-11-23t12:00:00Z", "2026-11-23T12:00:00", "",
	}
	for _, s := range append(slices.Collect(maps.Keys(canonical)), others...) {
		var want time.Time
		err := want.UnmarshalJSON([]byte(`"` + s + `"`))
		got, ok := parseUTC([]byte(s))
		switch {
		case canonical[s] && (!ok || err != nil):
			t.Errorf("%s: fast %v %v, time %v %v", s, got, ok, want, err)
		case ok && err != nil:
			t.Errorf("%s: fast %v, time refuses it: %v", s, got, err)
		case ok && got != want:
			t.Errorf("%s: fast %v, time %v", s, got, want)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, name := range []string{TypeClusterCreationStarted, TypeNodeCreated} {
		rec, err := Marshal(sampleEnvelope(samples[name]))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := unmarshalFast(rec); !ok {
					b.Fatal("refused")
				}
			}
		})
		b.Run(name+"/general", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unmarshal(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
