package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events/store"
)

// RunKV runs the key-value conformance suite; open returns a new, empty bucket each call.
func RunKV(t *testing.T, open func(t *testing.T) store.KV, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []kvCase{
		{"GetMissing", kvGetMissing},
		{"PutGet", kvPutGet},
		{"RevisionsAcrossKeys", kvRevisions},
		{"Create", kvCreate},
		{"CreateRace", kvCreateRace},
		{"Update", kvUpdate},
		{"UpdateAfterDelete", kvUpdateAfterDelete},
		{"Delete", kvDelete},
		{"Keys", kvKeys},
		{"Watch", kvWatch},
		{"WatchPrefixes", kvWatchPrefixes},
		{"WatchEnds", kvWatchEnds},
		{"InvalidKey", kvInvalidKey},
	}
	for _, name := range o.only {
		if !slices.ContainsFunc(tests, func(c kvCase) bool { return c.name == name }) {
			t.Fatalf("storetest has no key-value case %q", name)
		}
	}
	for _, tt := range tests {
		if o.only != nil && !slices.Contains(o.only, tt.name) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

type kvCase struct {
	name string
	run  func(t *testing.T, kv store.KV)
}

func put(t *testing.T, kv store.KV, key, value string) uint64 {
	t.Helper()
	rev, err := kv.Put(t.Context(), key, []byte(value))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// has fails unless key holds value at revision rev (any revision, for 0).
func has(t *testing.T, kv store.KV, key, value string, rev uint64) {
	t.Helper()
	e, err := kv.Get(t.Context(), key)
	switch {
	case err != nil:
		t.Fatalf("get %s: %v", key, err)
	case e.Key != key, string(e.Value) != value, e.Deleted, rev != 0 && e.Revision != rev:
		t.Fatalf("get %s = %+v (value %q), want value %q at revision %d", key, e, e.Value, value, rev)
	}
}

func none(t *testing.T, kv store.KV, key string) {
	t.Helper()
	if e, err := kv.Get(t.Context(), key); !errors.Is(err, store.ErrNoKey) {
		t.Fatalf("get %s = %+v, %v; want ErrNoKey", key, e, err)
	}
}

func kvGetMissing(t *testing.T, kv store.KV) { none(t, kv, "nothing.here") }

func kvPutGet(t *testing.T, kv store.KV) {
	r1 := put(t, kv, "a.b", "one")
	has(t, kv, "a.b", "one", r1)
	r2 := put(t, kv, "a.b", "two")
	if r2 <= r1 {
		t.Fatalf("second put has revision %d, the first %d", r2, r1)
	}
	has(t, kv, "a.b", "two", r2)
	r3 := put(t, kv, "a.b", "")
	has(t, kv, "a.b", "", r3) // an empty value is a value
}

func kvRevisions(t *testing.T, kv store.KV) {
	var last uint64
	for i, key := range []string{"x", "y", "x", "z.1", "y"} {
		rev := put(t, kv, key, fmt.Sprint(i))
		if rev <= last {
			t.Fatalf("put %d (%s) has revision %d after %d", i, key, rev, last)
		}
		last = rev
	}
}

func kvCreate(t *testing.T, kv store.KV) {
	ctx := t.Context()
	rev, err := kv.Create(ctx, "lease", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	has(t, kv, "lease", "a", rev)
	if _, err := kv.Create(ctx, "lease", []byte("b")); !errors.Is(err, store.ErrKeyExists) {
		t.Fatalf("create over a value: %v, want ErrKeyExists", err)
	}
	has(t, kv, "lease", "a", rev)
	if err := kv.Delete(ctx, "lease", 0); err != nil {
		t.Fatal(err)
	}
	rev, err = kv.Create(ctx, "lease", []byte("c"))
	if err != nil {
		t.Fatalf("create over a deleted key: %v", err)
	}
	has(t, kv, "lease", "c", rev)
}

// kvCreateRace: of many creates of one key at once, exactly one wins.
func kvCreateRace(t *testing.T, kv store.KV) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = kv.Create(t.Context(), "lease", fmt.Appendf(nil, "%d", i)) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			has(t, kv, "lease", fmt.Sprint(i), 0)
		case !errors.Is(err, store.ErrKeyExists):
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates won, want 1", won)
	}
}

func kvUpdate(t *testing.T, kv store.KV) {
	ctx := t.Context()
	r1 := put(t, kv, "lease", "a")
	r2, err := kv.Update(ctx, "lease", []byte("b"), r1)
	if err != nil {
		t.Fatal(err)
	}
	has(t, kv, "lease", "b", r2)
	for _, rev := range []uint64{r1, r2 + 100} {
		if _, err := kv.Update(ctx, "lease", []byte("c"), rev); !errors.Is(err, store.ErrKeyExists) {
			t.Fatalf("update at revision %d (the last is %d): %v, want ErrKeyExists", rev, r2, err)
		}
	}
	has(t, kv, "lease", "b", r2)
	// A change of another key moves the bucket's revisions on, not this key's.
	put(t, kv, "other", "x")
	if _, err := kv.Update(ctx, "lease", []byte("d"), r2); err != nil {
		t.Fatalf("update after another key changed: %v", err)
	}
	if _, err := kv.Update(ctx, "missing", []byte("e"), r2); !errors.Is(err, store.ErrKeyExists) {
		t.Fatalf("update of a missing key: %v, want ErrKeyExists", err)
	}
}

// kvUpdateAfterDelete: a deletion is the key's last change, with a revision of its own.
func kvUpdateAfterDelete(t *testing.T, kv store.KV) {
	ctx := t.Context()
	r1 := put(t, kv, "k", "a")
	if err := kv.Delete(ctx, "k", r1); err != nil {
		t.Fatal(err)
	}
	w := watch(t, kv, "k")
	del := w.next()
	w.loaded()
	if del.Key != "k" || !del.Deleted || del.Revision <= r1 {
		t.Fatalf("the watch shows %+v, want k deleted after revision %d", del, r1)
	}
	if _, err := kv.Update(ctx, "k", []byte("b"), r1); !errors.Is(err, store.ErrKeyExists) {
		t.Fatalf("update at the revision before the deletion: %v, want ErrKeyExists", err)
	}
	r3, err := kv.Update(ctx, "k", []byte("b"), del.Revision)
	if err != nil {
		t.Fatalf("update at the deletion's revision: %v", err)
	}
	has(t, kv, "k", "b", r3)
}

func kvDelete(t *testing.T, kv store.KV) {
	ctx := t.Context()
	if err := kv.Delete(ctx, "never", 0); err != nil {
		t.Fatalf("delete of a key never written: %v", err)
	}
	r1 := put(t, kv, "dirty.c.1", "m")
	r2 := put(t, kv, "dirty.c.1", "m2")
	if err := kv.Delete(ctx, "dirty.c.1", r1); !errors.Is(err, store.ErrKeyExists) {
		t.Fatalf("delete at an old revision: %v, want ErrKeyExists", err)
	}
	has(t, kv, "dirty.c.1", "m2", r2)
	if err := kv.Delete(ctx, "dirty.c.1", r2); err != nil {
		t.Fatal(err)
	}
	none(t, kv, "dirty.c.1")
	if err := kv.Delete(ctx, "dirty.c.1", r2); !errors.Is(err, store.ErrKeyExists) {
		t.Fatalf("delete again at the put's revision: %v, want ErrKeyExists", err)
	}
	put(t, kv, "dirty.c.2", "m")
	if err := kv.Delete(ctx, "dirty.c.2", 0); err != nil {
		t.Fatal(err)
	}
	none(t, kv, "dirty.c.2")
}

func kvKeys(t *testing.T, kv store.KV) {
	ctx := t.Context()
	for _, k := range []string{"dirty.c.1", "dirty.o.2", "dirty.c.3", "dirtier", "cluster.1", "position"} {
		put(t, kv, k, "v")
	}
	if err := kv.Delete(ctx, "dirty.c.3", 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"dirty.", []string{"dirty.c.1", "dirty.o.2"}},
		{"dirty.c.", []string{"dirty.c.1"}},
		{"dirt", []string{"dirtier", "dirty.c.1", "dirty.o.2"}},
		{"", []string{"cluster.1", "dirtier", "dirty.c.1", "dirty.o.2", "position"}},
		{"none.", nil},
	}
	for _, tt := range tests {
		keys, err := kv.Keys(ctx, tt.prefix)
		if err != nil {
			t.Fatalf("keys %q: %v", tt.prefix, err)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, tt.want) {
			t.Errorf("keys %q = %v, want %v", tt.prefix, keys, tt.want)
		}
	}
}

// watcher reads a watch, failing the test if nothing comes in a while (a test on fake time
// fails at once when nothing can come).
type watcher struct {
	t      *testing.T
	ch     <-chan *store.KVEntry
	cancel context.CancelFunc
}

func watch(t *testing.T, kv store.KV, prefixes ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch, err := kv.Watch(ctx, prefixes...)
	if err != nil {
		t.Fatal(err)
	}
	return &watcher{t: t, ch: ch, cancel: cancel}
}

func (w *watcher) recv() (*store.KVEntry, bool) {
	w.t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case e, ok := <-w.ch:
		return e, ok
	case <-timer.C:
		w.t.Fatal("the watch sent nothing")
		return nil, false
	}
}

// next returns the next change, failing on the end of the initial values or of the watch.
func (w *watcher) next() store.KVEntry {
	w.t.Helper()
	e, ok := w.recv()
	if !ok || e == nil {
		w.t.Fatalf("the watch sent %v (open %v), want a change", e, ok)
	}
	return *e
}

// loaded fails unless the watch says next that the initial values are all sent.
func (w *watcher) loaded() {
	w.t.Helper()
	if e, ok := w.recv(); !ok || e != nil {
		w.t.Fatalf("the watch sent %+v (open %v), want the end of the initial values", e, ok)
	}
}

// want fails unless the next change is key's: deleted, or holding value.
func (w *watcher) want(key, value string, deleted bool, rev uint64) {
	w.t.Helper()
	e := w.next()
	if e.Key != key || string(e.Value) != value || e.Deleted != deleted || (rev != 0 && e.Revision != rev) {
		w.t.Fatalf("the watch sent %+v (value %q), want %s = %q deleted %v at revision %d", e, e.Value, key, value, deleted, rev)
	}
}

func kvWatch(t *testing.T, kv store.KV) {
	ctx := t.Context()
	ra := put(t, kv, "a", "1")
	put(t, kv, "b", "1")
	rb := put(t, kv, "b", "2") // the bucket keeps b's last change only
	put(t, kv, "c", "1")
	if err := kv.Delete(ctx, "c", 0); err != nil {
		t.Fatal(err)
	}
	w := watch(t, kv)
	w.want("a", "1", false, ra)
	w.want("b", "2", false, rb)
	w.want("c", "", true, 0) // deletions are changes too
	w.loaded()
	r := put(t, kv, "d", "1")
	w.want("d", "1", false, r)
	if err := kv.Delete(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	w.want("a", "", true, 0)
	r, err := kv.Create(ctx, "a", []byte("3"))
	if err != nil {
		t.Fatal(err)
	}
	w.want("a", "3", false, r)
}

func kvWatchPrefixes(t *testing.T, kv store.KV) {
	put(t, kv, "position", "1")
	rc := put(t, kv, "cluster.1", "e1")
	put(t, kv, "dirty.c.1", "m")
	vo := "t0"
	ro := put(t, kv, "op.1", vo)
	tests := []struct {
		name     string
		prefixes []string
	}{
		{"tokens", []string{"cluster.", "op."}},
		{"within another", []string{"cluster.", "op.", "op.x."}},
		{"part of a token", []string{"clus", "op"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := watch(t, kv, tt.prefixes...)
			w.want("cluster.1", "e1", false, rc)
			w.want("op.1", vo, false, ro)
			w.loaded()
			// Changes of other keys are not sent: the next change sent is the op's.
			put(t, kv, "dirty.o.1", "m")
			put(t, kv, "position", "2")
			vo = fmt.Sprintf("t%d", i+1)
			ro = put(t, kv, "op.1", vo)
			w.want("op.1", vo, false, ro)
			w.cancel()
		})
	}
	// An empty bucket's watch sends the end of the initial values at once.
	w := watch(t, kv, "empty.")
	w.loaded()
}

// kvWatchEnds: the watch's channel is closed once ctx ends.
func kvWatchEnds(t *testing.T, kv store.KV) {
	w := watch(t, kv, "a.")
	w.loaded()
	w.cancel()
	for {
		e, ok := w.recv()
		if !ok {
			return
		}
		if e == nil {
			t.Fatal("the watch sent the end of the initial values twice")
		}
	}
}

func kvInvalidKey(t *testing.T, kv store.KV) {
	for _, key := range []string{"", "a b", ".a", "a.", "a..b", "a*", "a.>"} {
		if _, err := kv.Put(t.Context(), key, []byte("v")); err == nil {
			t.Errorf("put %q stored a value under an invalid key", key)
		}
	}
}
