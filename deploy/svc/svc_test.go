package svc

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestAdmin(t *testing.T) {
	a := NewAdmin(NewRegistry("test"))
	healthy := true
	a.AddCheck("nats", func() error { return nil })
	a.AddCheck("amqp", func() error {
		if healthy {
			return nil
		}
		return errors.New("connection refused")
	})
	h := a.Handler()
	tests := []struct {
		name, path string
		setup      func()
		code       int
		want       []string
	}{
		{"live", "/livez", nil, 200, []string{"ok"}},
		{"ready", "/readyz", nil, 200, []string{"ok"}},
		{"ready verbose", "/readyz?verbose", nil, 200, []string{"[+]nats ok", "[+]amqp ok"}},
		{"not ready", "/readyz", func() { healthy = false }, 503, []string{"[-]amqp failed: connection refused", "[+]nats ok"}},
		{"live while not ready", "/livez", nil, 200, []string{"ok"}},
		{"stopping", "/readyz", func() { healthy = true; a.Stopping() }, 503, []string{"[-]shutdown"}},
		{"metrics", "/metrics", nil, 200, []string{`kaas_build_info{goversion=`, "go_goroutines", "process_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			code, body := get(t, h, tt.path)
			if code != tt.code {
				t.Fatalf("%s: %d %s", tt.path, code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Fatalf("%s: body lacks %q:\n%s", tt.path, w, body)
				}
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	if _, err := NewLogger(io.Discard, "chatty"); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := NewLogger(io.Discard, "debug"); err != nil {
		t.Fatal(err)
	}
}
