package executors

import (
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/store"
)

type fakeMsg struct {
	store.Delivery
	n int
}

func TestKeyedQueueOrdersPerKeyAndExcludes(t *testing.T) {
	q := newKeyedQueue()
	q.put("a", fakeMsg{n: 1})
	q.put("b", fakeMsg{n: 2})
	q.put("a", fakeMsg{n: 3})

	k1, m1, _ := q.take()
	k2, m2, _ := q.take()
	if k1 != "a" || k2 != "b" || len(m1) != 2 || m1[0].(fakeMsg).n != 1 || m1[1].(fakeMsg).n != 3 || len(m2) != 1 {
		t.Fatalf("take order: %s %v, %s %v", k1, m1, k2, m2)
	}
	// While a is held, its new messages wait; they come back once a is done.
	q.put("a", fakeMsg{n: 4})
	got := make(chan string, 1)
	go func() { k, _, _ := q.take(); got <- k }()
	select {
	case k := <-got:
		t.Fatalf("took %s while a was held", k)
	case <-time.After(20 * time.Millisecond):
	}
	q.done("a")
	if k := <-got; k != "a" {
		t.Fatalf("took %s", k)
	}
	q.put("c", fakeMsg{n: 5})
	if left := q.close(); len(left) != 1 {
		t.Fatalf("close returned %d untaken messages", len(left))
	}
	if _, _, ok := q.take(); ok {
		t.Fatal("take after close")
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	base, max := 100*time.Millisecond, 5*time.Second
	for attempt := 1; attempt <= 30; attempt++ {
		d := backoff(base, max, attempt)
		ceil := min(base<<min(attempt-1, 20), max)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, ceil/2, ceil)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := Config{Workers: -1, PollInterval: time.Nanosecond, MaxAttempts: -1, RetryBase: time.Second, RetryMax: time.Millisecond,
		AckWait: time.Millisecond, BootTimeout: time.Hour, OperationTimeout: time.Minute}
	if err := bad.Validate(); err == nil {
		t.Fatal("bad config accepted")
	}
}

// A pool that sizes itself keeps its own sizing; one that names nothing gets the template's
// rules, whole, never mixed with its own values.
func TestSizingOfPoolsAndRules(t *testing.T) {
	rules := events.TemplateRules{CPU: 4, MemoryMB: 8192, SizingPolicy: "large"}
	tests := []struct {
		name  string
		pool  events.NodePool
		rules events.TemplateRules
		want  events.TemplateRules
	}{
		{"pool names nothing", events.NodePool{Count: 1}, rules, rules},
		{"pool names a sizing class", events.NodePool{SizingClass: "small"}, rules, events.TemplateRules{SizingPolicy: "small"}},
		{"pool names CPUs only", events.NodePool{CPU: 2}, rules, events.TemplateRules{CPU: 2}},
		{"pool names memory only", events.NodePool{MemoryMB: 2048}, rules, events.TemplateRules{MemoryMB: 2048}},
		{"no rules either", events.NodePool{}, events.TemplateRules{}, events.TemplateRules{}},
		{"rules of memory only", events.NodePool{}, events.TemplateRules{MemoryMB: 6144}, events.TemplateRules{MemoryMB: 6144}},
	}
	for _, tt := range tests {
		if got := sizingOf(tt.pool, tt.rules); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestBuildConfig(t *testing.T) {
	err := Build{}.Validate()
	if err == nil || !strings.Contains(err.Error(), "KAAS_BUILD_VDC") || !strings.Contains(err.Error(), "KAAS_BUILD_NETWORK") {
		t.Fatalf("no build location: %v", err)
	}
	if err := (Build{VDC: "v"}).Validate(); err == nil || strings.Contains(err.Error(), "KAAS_BUILD_VDC") {
		t.Fatalf("no network: %v", err)
	}
	if err := (Build{VDC: "v", Network: "n"}).Validate(); err != nil {
		t.Fatal(err)
	}
	c := Config{}
	c.setDefaults()
	if c.Build.Timeout != 30*time.Minute {
		t.Fatalf("default build timeout %s", c.Build.Timeout)
	}
	c.Build.Timeout = 3 * time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "build timeout") {
		t.Fatalf("a build timeout beyond the operation timeout: %v", err)
	}
	c = Config{OperationTimeout: time.Minute, BootTimeout: time.Second}
	if c.setDefaults(); c.Build.Timeout != time.Minute || c.Validate() != nil {
		t.Fatalf("a short operation timeout: build timeout %s, %v", c.Build.Timeout, c.Validate())
	}
}
