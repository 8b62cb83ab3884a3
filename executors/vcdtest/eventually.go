package vcdtest

import (
	"testing"
	"time"
)

// Eventually waits for a condition, for the tests of a VCD implementation (VCD's tasks end
// a while after the call that started them): it calls cond every tick until cond returns
// nil, and fails t with cond's last error, which says what it saw, once within has passed.
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
