package executors

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

type fakeMsg struct {
	jetstream.Msg
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
