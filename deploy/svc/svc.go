// Package svc is the process plumbing kaas binaries share: the JSON logger, the admin
// listener (/metrics, /livez, /readyz with named checks), and the Prometheus registry the
// components register on.
package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns the process's structured logger.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// NewRegistry returns a registry with the Go, process and build-info collectors.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kaas", Name: "build_info",
		Help: "Always 1; the labels say which kaas is running."}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(version, revision, strings.TrimPrefix(debugGoVersion(), "go")).Set(1)
	reg.MustRegister(build)
	return reg
}

func debugGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown"
}

// Check is a named readiness check.
type Check struct {
	Name string
	Fn   func() error
}

// Admin is the admin listener: probes never compete with API traffic.
type Admin struct {
	mu       sync.Mutex
	checks   []Check
	stopping bool
	reg      *prometheus.Registry
}

// NewAdmin returns an admin handler serving the registry.
func NewAdmin(reg *prometheus.Registry) *Admin { return &Admin{reg: reg} }

// AddCheck adds a readiness check.
func (a *Admin) AddCheck(name string, fn func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, Check{name, fn})
}

// Stopping makes /readyz fail from now on, the first step of a graceful shutdown.
func (a *Admin) Stopping() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopping = true
}

// Handler serves /metrics, /livez (no dependency checks: a NATS outage must not restart
// the process), and /readyz (every check; ?verbose lists them).
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	live := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") }
	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("GET /healthz", live)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		checks, stopping := slices.Clone(a.checks), a.stopping
		a.mu.Unlock()
		var lines []string
		failed := false
		if stopping {
			failed = true
			lines = append(lines, "[-]shutdown: stopping")
		}
		for _, c := range checks {
			if err := c.Fn(); err != nil {
				failed = true
				lines = append(lines, fmt.Sprintf("[-]%s failed: %v", c.Name, err))
			} else {
				lines = append(lines, fmt.Sprintf("[+]%s ok", c.Name))
			}
		}
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		if r.URL.Query().Has("verbose") || failed {
			_, _ = io.WriteString(w, strings.Join(lines, "\n")+"\n")
		}
		if failed {
			_, _ = io.WriteString(w, "readyz check failed\n")
		} else {
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	return mux
}

// Serve runs an HTTP server on addr until ctx ends, then shuts it down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is Serve on a listener the caller opened.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
