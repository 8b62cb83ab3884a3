package vcdsim_test

import (
	"testing"
	"time"
)

// eventually waits for a condition: it calls cond every tick until cond returns nil, and
// fails t with cond's last error (what it saw) once within has passed.
func eventually(t testing.TB, within, tick time.Duration, cond func() error) {
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
