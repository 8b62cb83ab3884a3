package kaasctl_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasctl"
	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// env is the whole system kaasctl talks to: vcdsim playing VCD (HTTPS, and the API
// extension relaying /api/cse over RabbitMQ) and kaasd with embedded JetStream,
// provisioning on vcdsim. Each user has its own kaasctl config dir.
type env struct {
	t    *testing.T
	url  string
	sim  *vcdsim.Server
	srv  *kaasd.Server
	dirs map[string]string
}

// startEnv starts the system as deploy/kaasd's startSimEnv does, with the simulator's fast
// timings, and has a provider enable acme-vdc when the server has org VDC enablement.
// Options change kaasd's configuration.
func startEnv(t *testing.T, opts ...func(*kaasd.Config)) *env {
	t.Helper()
	amqpURL := vcdexttest.RequireBroker(t)
	exchange, key := vcdexttest.UniqueNames(t)
	simCfg := vcdsim.Default()
	simCfg.TaskDelay, simCfg.BootDelay = vcdsim.Duration(40*time.Millisecond), vcdsim.Duration(300*time.Millisecond)
	simCfg.ExtensionTimeout = vcdsim.Duration(8 * time.Second)
	simCfg.AMQPURL = amqpURL
	sim, err := vcdsim.New(simCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the test without --insecure
	ts.StartTLS()
	sim.SetBase(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })

	cfg := kaasd.Defaults()
	cfg.DataDir, cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = t.TempDir(), amqpURL, exchange, key
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.VCDURL, cfg.VCDUser, cfg.VCDPassword, cfg.VCDInsecure = ts.URL+"/api", "administrator", "kaas-admin", true
	cfg.PollInterval = 50 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(exchange, key)); err != nil {
		t.Fatal(err)
	}
	srv, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e := &env{t: t, url: ts.URL, sim: sim, srv: srv, dirs: map[string]string{}}
	e.enableVDC("acme-vdc")
	return e
}

// enableVDC does what a provider does before tenants create clusters, over plain HTTP so
// that a kaasctl bug cannot hide behind it. A server without org VDC enablement (404)
// needs nothing.
func (e *env) enableVDC(name string) {
	t := e.t
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("POST", e.url+"/cloudapi/1.0.0/sessions/provider", nil)
	req.SetBasicAuth("administrator@System", "kaas-admin")
	req.Header.Set("Accept", "application/json;version=37.0")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("X-Vmware-Vcloud-Access-Token")
	do := func(method, path string, body any) (int, []byte, string) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, e.url+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json;version=36.0")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header.Get("Location")
	}
	var vdcs []struct {
		Name    string `json:"ovdc_name"`
		ID      string `json:"ovdc_id"`
		OrgName string `json:"org_name"`
	}
	var id, org string
	for deadline := time.Now().Add(20 * time.Second); id == ""; time.Sleep(50 * time.Millisecond) {
		code, body, _ := do("GET", "/api/cse/3.0/ovdcs", nil)
		if code == http.StatusNotFound {
			return
		}
		if code == http.StatusOK && json.Unmarshal(body, &vdcs) == nil {
			for _, d := range vdcs {
				if d.Name == name {
					id, org = d.ID, d.OrgName
				}
			}
		}
		if id == "" && time.Now().After(deadline) {
			t.Fatalf("kaas never listed org VDC %s: %d %s", name, code, body)
		}
	}
	code, body, loc := do("PUT", "/api/cse/3.0/ovdc/"+id, map[string]any{"k8s_runtime": []string{"native"}, "org_name": org, "ovdc_name": name})
	if code != http.StatusAccepted {
		t.Fatalf("enable %s: %d %s", name, code, body)
	}
	for deadline := time.Now().Add(20 * time.Second); loc != ""; time.Sleep(20 * time.Millisecond) {
		_, body, _ := do("GET", loc, nil)
		var op struct{ Status string }
		if json.Unmarshal(body, &op) == nil && op.Status == "SUCCEEDED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("enabling %s never ended: %s", name, body)
		}
	}
}

// result is one run of kaasctl.
type result struct {
	code     int
	out, err string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err
}

// run runs kaasctl in-process, as user (each user has its own session), with stdin.
func run(t testing.TB, configDir, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := kaasctl.Execute(t.Context(), args, kaasctl.Streams{
		In: strings.NewReader(stdin), Out: &out, Err: &errb, ConfigDir: configDir, Version: "test",
	})
	return result{code: code, out: out.String(), err: errb.String()}
}

// as runs kaasctl in user's session.
func (e *env) as(user string, args ...string) result {
	e.t.Helper()
	return run(e.t, e.dir(user), "", args...)
}

func (e *env) dir(user string) string {
	if e.dirs[user] == "" {
		e.dirs[user] = e.t.TempDir()
	}
	return e.dirs[user]
}

// login logs user@org in with kaasctl, by password.
func (e *env) login(user, org, password string) {
	e.t.Helper()
	r := run(e.t, e.dir(user), password+"\n", "login", e.url, "--org", org, "--user", user, "--password-stdin", "--insecure")
	if r.code != 0 {
		e.t.Fatalf("login %s@%s: %s", user, org, r)
	}
}

// normalizers replace what changes from run to run (ids, addresses, times, node names)
// in output compared with a golden file.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`https://127\.0\.0\.1:\d+`), "https://VCD"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`), "IP"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\b(mstr|node|nfsd)-[a-z0-9]{4,}\b`), "$1-XXXX"},
	{regexp.MustCompile(`\b[0-9a-f]{20,}\b`), "HEX"},
	// Stream sequences follow how the system's own events (VCD syncs) interleave.
	{regexp.MustCompile(`"seq": \d+`), `"seq": N`},
	{regexp.MustCompile(`(?m)^\d+( {2,})`), "N$1"},
}

// tableSpace makes table output independent of column widths, which follow the lengths
// of what the normalizers replaced.
var tableSpace = regexp.MustCompile(`  +`)

func normalize(s string, table bool) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	if table {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(tableSpace.ReplaceAllString(l, "  "), " ")
		}
		s = strings.Join(lines, "\n")
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// runEnv is run with an environment.
func runEnv(t testing.TB, configDir string, environ map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := kaasctl.Execute(t.Context(), args, kaasctl.Streams{
		In: strings.NewReader(""), Out: &out, Err: &errb, ConfigDir: configDir, Version: "test",
		Getenv: func(k string) string { return environ[k] },
	})
	return result{code: code, out: out.String(), err: errb.String()}
}
