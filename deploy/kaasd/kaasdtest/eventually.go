package kaasdtest

import (
	"testing"
	"time"
)

// Eventually waits for a condition: it calls cond every tick until cond returns nil, and
// fails t with cond's last error once within has passed. cond's error says what it saw
// instead of what it waits for (the failure reads "after 20s: <error>"); cond may fail t
// itself on what can never come right. The tick is the caller's, as what cond costs is
// (a look at an inventory, or a walk over VCD's API).
func Eventually(t testing.TB, within, tick time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(tick)
	}
}
