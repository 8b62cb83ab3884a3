// Package kaasdtest starts the whole system for the tests of what runs on top of it
// (kaasd's end-to-end tests, kaasctl's): vcdsim playing VCD over HTTPS and relaying
// /api/cse over the machine's RabbitMQ as VCD's API extension does, and kaasd with embedded
// JetStream provisioning on vcdsim through go-vcloud-director, registered with it as
// `kaasd install` registers it (the API extension, CSE's entity types, their rights bundle
// published to every tenant org). Everything stops when the test ends. Those tests wait for
// what the system does with Eventually, never with a fixed sleep.
package kaasdtest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// FastSim is vcdsim's default cloud with short tasks and boots, for tests.
func FastSim() vcdsim.Config {
	cfg := vcdsim.Default()
	cfg.TaskDelay, cfg.BootDelay = vcdsim.Duration(40*time.Millisecond), vcdsim.Duration(300*time.Millisecond)
	cfg.ExtensionTimeout = vcdsim.Duration(8 * time.Second)
	return cfg
}

// System is a running vcdsim and kaasd.
type System struct {
	// URL is VCD's address (vcdsim's), https://127.0.0.1:<port>.
	URL    string
	Sim    *vcdsim.Server
	Server *kaasd.Server
	Config kaasd.Config
	// HTTP trusts vcdsim's certificate.
	HTTP *http.Client
}

// Start starts vcdsim with simCfg and kaasd on it, registered as `kaasd install` registers
// it; opts change kaasd's configuration before it starts. A machine without RabbitMQ skips
// the test, except in CI, where it fails.
func Start(t testing.TB, simCfg vcdsim.Config, opts ...func(*kaasd.Config)) *System {
	t.Helper()
	s := StartSim(t, simCfg, opts...)
	if _, err := kaasd.Install(t.Context(), s.Config.VCDConfig(nil), kaasd.DefaultExtension(s.Config.AMQPExchange, s.Config.AMQPRoutingKey)); err != nil {
		t.Fatal(err)
	}
	srv, err := kaasd.Start(t.Context(), s.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	s.Server = srv
	return s
}

// StartSim starts vcdsim with simCfg, relaying to exchange and routing key names of this
// test's own, with CSE's entity types registered and their rights bundle published to every
// tenant org, and returns the system without kaasd (Server is nil) and without the API
// extension: Config is what kaasd would run with, opts applied. It is for tests of what
// happens before kaasd runs.
func StartSim(t testing.TB, simCfg vcdsim.Config, opts ...func(*kaasd.Config)) *System {
	t.Helper()
	s := StartBare(t, simCfg, opts...)
	if _, err := kaasd.InstallRDE(t.Context(), s.Config.VCDConfig(nil), "all"); err != nil {
		t.Fatal(err)
	}
	return s
}

// StartBare is StartSim on a VCD where nothing of kaas's is registered: no extension, no
// entity types, hence none of CSE's rights.
func StartBare(t testing.TB, simCfg vcdsim.Config, opts ...func(*kaasd.Config)) *System {
	t.Helper()
	amqpURL := vcdexttest.RequireBroker(t)
	exchange, key := vcdexttest.UniqueNames(t)
	simCfg.AMQPURL = amqpURL
	sim, err := vcdsim.New(simCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := Serve(t, sim)

	cfg := kaasd.Defaults()
	cfg.DataDir, cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = t.TempDir(), amqpURL, exchange, key
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.VCDURL, cfg.VCDUser, cfg.VCDPassword, cfg.VCDInsecure = base+"/api", "administrator", "kaas-admin", true
	cfg.PollInterval = 50 * time.Millisecond
	// Template builds run in the simulator's only VDC, as make run's do.
	cfg.Build.Org, cfg.Build.VDC, cfg.Build.Network = "acme", "acme-vdc", "acme-net"
	for _, o := range opts {
		o(&cfg)
	}
	return &System{URL: base, Sim: sim, Config: cfg, HTTP: HTTPClient()}
}

// Serve serves sim over HTTPS on a loopback port until the test ends, and returns its
// address (https://127.0.0.1:<port>), which sim then names in its links. It is served as
// the binaries serve it, with vcdsim's own self-signed certificate: an ECDSA key signs a
// handshake in a fraction of the time httptest's RSA key takes, and go-vcloud-director
// opens connections by the hundred.
func Serve(t testing.TB, sim *vcdsim.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if ln, err = vcdsim.SelfSignedTLS(ln, "vcdsim"); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // handshakes refused on purpose (clients without --insecure)
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed at cleanup
	base := "https://" + ln.Addr().String()
	sim.SetBase(base)
	t.Cleanup(func() { _ = srv.Close(); sim.Close() })
	return base
}

// HTTPClient is a client that trusts vcdsim's self-signed certificate.
func HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test's own server
}

// Login opens a session as user@org (System users through VCD's provider login) and
// returns its bearer token.
func (s *System) Login(t testing.TB, userAtOrg, password string) string {
	t.Helper()
	path := "/cloudapi/1.0.0/sessions"
	if strings.HasSuffix(userAtOrg, "@System") {
		path += "/provider"
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, nil)
	req.SetBasicAuth(userAtOrg, password)
	req.Header.Set("Accept", "application/json;version=37.0")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Vmware-Vcloud-Access-Token")
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("login %s: %d", userAtOrg, resp.StatusCode)
	}
	return tok
}

// Call makes one HTTPS call to VCD's API in a session, with the Accept header given (CSE's
// API version 36.0 when empty), and returns the status, the body and the Location header.
func (s *System) Call(t testing.TB, token, accept, method, path string, body any) (int, []byte, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	if accept == "" {
		accept = "application/json;version=36.0"
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Location")
}

// EnableVDCs does what a provider does before tenants can create clusters: it waits until
// kaas has read VCD's org VDCs, then enables every one for native Kubernetes and waits
// until an executor recorded it, so that tests counting records start from a quiet store.
// asProvider makes one API call as a provider, over whichever path the test uses.
func EnableVDCs(t testing.TB, asProvider func(method, path string, body any) (int, []byte)) {
	t.Helper()
	var vdcs []cse.Ovdc
	Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		code, body := asProvider("GET", "/api/cse/3.0/ovdcs", nil)
		if code == http.StatusOK && json.Unmarshal(body, &vdcs) == nil && len(vdcs) > 0 {
			return nil
		}
		return fmt.Errorf("kaas lists none of VCD's org VDCs: %d %s", code, body)
	})
	for _, d := range vdcs {
		code, body := asProvider("PUT", "/api/cse/3.0/ovdc/"+d.ID, cse.OvdcUpdate{K8sRuntime: []string{"native"}, OrgName: d.OrgName, OvdcName: d.Name})
		var task struct {
			Href string `json:"task_href"`
		}
		if code != http.StatusAccepted || json.Unmarshal(body, &task) != nil {
			t.Fatalf("enable %s of %s: %d %s", d.Name, d.OrgName, code, body)
		}
		Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
			switch ended := TaskEnded(asProvider, task.Href); ended {
			case "success":
				return nil
			case "":
				return fmt.Errorf("enabling %s still runs: %s", d.Name, body)
			default:
				return fmt.Errorf("enabling %s ended in %s: %s", d.Name, ended, body)
			}
		})
	}
}

// TaskEnded returns how the operation or task at href ended ("success" or "error"), or ""
// while it runs: kaas's own operation (/api/cse/3.0/operations/{id}) or, once the mirror
// made it, its VCD task (<VCD>/api/task/{id}, read at VCD's address).
func TaskEnded(get func(method, path string, body any) (int, []byte), href string) string {
	if u, err := url.Parse(href); err == nil && u.IsAbs() {
		href = u.Path
	}
	_, body := get("GET", href, nil)
	var op cse.Operation
	if json.Unmarshal(body, &op) == nil && op.ID != "" {
		switch op.Status {
		case "SUCCEEDED":
			return "success"
		case "FAILED", "REJECTED", "SUPERSEDED":
			return "error"
		}
		return ""
	}
	var task struct {
		Status string `xml:"status,attr"`
	}
	if xml.Unmarshal(body, &task) == nil {
		switch task.Status {
		case "success":
			return "success"
		case "error", "aborted", "canceled":
			return "error"
		}
	}
	return ""
}

// AsProvider is EnableVDCs's asProvider over VCD's HTTPS API, logged in as vcdsim's
// provider.
func (s *System) AsProvider(t testing.TB) func(method, path string, body any) (int, []byte) {
	token := s.Login(t, "administrator@System", "kaas-admin")
	return func(method, path string, body any) (int, []byte) {
		t.Helper()
		accept := "" // CSE's API
		if !strings.HasPrefix(path, "/api/cse") {
			accept = "application/*+xml;version=37.0" // VCD's own (a task)
		}
		code, b, _ := s.Call(t, token, accept, method, path, body)
		return code, b
	}
}
