// Package waittest is how kaas's tests wait for a condition instead of sleeping for a fixed
// time: one helper, shared by every package's tests, that fails with what it last saw.
package waittest

import (
	"testing"
	"time"
)

// Eventually calls cond every tick until cond returns nil, and fails t with cond's last
// error once within has passed. cond's error says what it saw instead of what it waits for
// (the failure reads "after 20s: <error>"); cond may fail t itself on what can never come
// right. The tick is the caller's, as what cond costs is (a look at an inventory, a walk
// over VCD's API); inside a synctest bubble it passes on the fake clock.
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
