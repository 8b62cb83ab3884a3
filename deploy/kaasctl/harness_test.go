package kaasctl_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasctl"
	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// env is the whole system kaasctl talks to (kaasdtest.System: vcdsim playing VCD over
// HTTPS and relaying /api/cse over RabbitMQ, kaasd with embedded JetStream provisioning on
// it). Each user has its own kaasctl config dir.
type env struct {
	t    *testing.T
	url  string
	sim  *vcdsim.Server
	srv  *kaasd.Server
	dirs map[string]string
}

// startEnv starts the system with the simulator's fast timings and has a provider enable
// the org VDCs. Options change kaasd's configuration.
func startEnv(t *testing.T, opts ...func(*kaasd.Config)) *env {
	t.Helper()
	sys := kaasdtest.Start(t, kaasdtest.FastSim(), opts...)
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	return &env{t: t, url: sys.URL, sim: sys.Sim, srv: sys.Server, dirs: map[string]string{}}
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
