package vcdext_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/tlstest"
)

// TestConsumerOverTLS: over amqps://, a consumer that trusts the CA which signed the
// broker's certificate (and, for a broker that asks, shows a client certificate) consumes
// and replies; one that does not trust it, or expects another name, or reaches a plain
// port, or has no certificate for a broker that requires one, never consumes and says why
// in Ready, and Declare (what `kaasd install` runs) fails the same way.
func TestConsumerOverTLS(t *testing.T) {
	plain := vcdexttest.RequireBroker(t)
	ca, other := tlstest.NewCA(t, "kaas test CA"), tlstest.NewCA(t, "another CA")
	server, client := ca.Server(t), ca.Client(t, "kaasd")
	oneWay := tlstest.AMQPS(t, plain, &tls.Config{Certificates: []tls.Certificate{server.TLS}, MinVersion: tls.VersionTLS12})
	mutual := tlstest.AMQPS(t, plain, &tls.Config{Certificates: []tls.Certificate{server.TLS}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()})
	u, _ := url.Parse(plain)
	u.Scheme = "amqps"
	plainPort := u.String()

	tests := []struct {
		name    string
		url     string
		tls     vcdext.TLS
		wantErr string
	}{
		{name: "the broker's CA", url: oneWay, tls: vcdext.TLS{CAFile: ca.CertFile}},
		{name: "the name on the certificate", url: oneWay, tls: vcdext.TLS{CAFile: ca.CertFile, ServerName: "localhost"}},
		{name: "mutual TLS", url: mutual, tls: vcdext.TLS{CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}},
		{name: "another CA", url: oneWay, tls: vcdext.TLS{CAFile: other.CertFile},
			wantErr: "certificate signed by unknown authority (the broker's certificate is not signed by a CA of the TLS CA file)"},
		{name: "the system's CAs", url: oneWay, wantErr: "certificate signed by unknown authority"},
		{name: "another name", url: oneWay, tls: vcdext.TLS{CAFile: ca.CertFile, ServerName: "rabbitmq.example.com"},
			wantErr: "not rabbitmq.example.com (the broker's certificate does not name the URL's host"},
		{name: "no client certificate", url: mutual, tls: vcdext.TLS{CAFile: ca.CertFile}, wantErr: "(if the broker verifies clients (fail_if_no_peer_cert), give a client certificate and key)"},
		{name: "a port without TLS", url: plainPort, tls: vcdext.TLS{CAFile: ca.CertFile}, wantErr: "the broker does not speak TLS on this port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, rk := vcdexttest.UniqueNames(t)
			cfg := vcdext.Config{URL: tt.url, TLS: tt.tls, Exchange: ex, RoutingKey: rk,
				ReconnectMin: 10 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Logger: testLogger(t)}
			ctx := ctxTimeout(t, 20*time.Second)
			top, declErr := vcdext.Declare(ctx, cfg)
			cfg.Metrics = vcdext.NewMetrics(prometheus.NewRegistry())
			cons, err := vcdext.New(cfg, http.HandlerFunc(echoHandler))
			if err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- cons.Run(runCtx) }()
			t.Cleanup(func() { cancel(); <-done })

			if tt.wantErr != "" {
				if declErr == nil || !strings.Contains(declErr.Error(), tt.wantErr) {
					t.Errorf("Declare = %v, want %q", declErr, tt.wantErr)
				}
				eventually(t, 10*time.Second, func() error {
					if err := cons.Ready(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						return fmt.Errorf("Ready = %v, want %q", err, tt.wantErr)
					}
					return nil
				})
				if n := cfg.Metrics.Connected(); n != 0 {
					t.Errorf("connected = %v", n)
				}
				return
			}
			if declErr != nil || top.Queue != rk {
				t.Fatalf("Declare = %+v, %v", top, declErr)
			}
			eventually(t, 10*time.Second, cons.Ready)
			// VCD publishes to the broker directly; the reply comes back through it from
			// the consumer behind TLS.
			vcd, err := vcdexttest.NewClient(ctx, plain, ex, rk)
			if err != nil {
				t.Fatal(err)
			}
			defer vcd.Close()
			resp, err := vcd.Do(ctx, vcdexttest.Req{Method: http.MethodGet, Path: "/api/cse/3.0/clusters", RequestID: "req-tls",
				Headers: map[string]string{"Accept": "application/json;version=36.0"}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusAccepted || resp.RequestID != "req-tls" {
				t.Errorf("reply %d %q", resp.StatusCode, resp.RequestID)
			}
		})
	}
}

// TestTLSConfigValidate: TLS settings a consumer could never use are refused by New, each
// naming what is wrong.
func TestTLSConfigValidate(t *testing.T) {
	ca := tlstest.NewCA(t, "kaas test CA")
	client := ca.Client(t, "kaasd")
	tests := []struct {
		name    string
		cfg     vcdext.Config
		wantErr string
	}{
		{name: "TLS for amqp://", cfg: vcdext.Config{URL: "amqp://127.0.0.1/", TLS: vcdext.TLS{CAFile: ca.CertFile}}, wantErr: "make the URL amqps://"},
		{name: "missing CA file", cfg: vcdext.Config{URL: "amqps://127.0.0.1/", TLS: vcdext.TLS{CAFile: "/nonexistent/ca.pem"}},
			wantErr: "TLS CA file: open /nonexistent/ca.pem: no such file or directory"},
		{name: "CA file without a certificate", cfg: vcdext.Config{URL: "amqps://127.0.0.1/", TLS: vcdext.TLS{CAFile: client.KeyFile}},
			wantErr: "no PEM certificate in it"},
		{name: "certificate without key", cfg: vcdext.Config{URL: "amqps://127.0.0.1/", TLS: vcdext.TLS{CertFile: client.CertFile}},
			wantErr: "give both files or neither"},
		{name: "key of another certificate", cfg: vcdext.Config{URL: "amqps://127.0.0.1/", TLS: vcdext.TLS{CertFile: client.CertFile, KeyFile: ca.Client(t, "other").KeyFile}},
			wantErr: "private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vcdext.New(tt.cfg, http.NotFoundHandler())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
