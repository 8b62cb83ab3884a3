package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/internal/tlstest"
)

// unitsDir holds the systemd units and the example settings a provider installs.
const unitsDir = "../../systemd"

// TestSystemdUnits runs `systemd-analyze verify` (make units) on the units of
// deploy/systemd. verify wants every ExecStart binary to exist: the copies it checks start
// this test's own binary, which is kaasd's package main, instead of /usr/local/bin's. Any
// warning fails the test, not only an error.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// Never skipped: make test installs it (deploy/scripts/ensure-systemd-analyze.sh).
		t.Fatalf("systemd-analyze is not installed: run make test, which installs it, or apt-get install systemd: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	units, err := filepath.Glob(filepath.Join(unitsDir, "*.service"))
	if err != nil || len(units) < 2 {
		t.Fatalf("units in %s: %v %v", unitsDir, units, err)
	}
	dir := t.TempDir()
	execStart := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/\S+`)
	var copies []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if !execStart.Match(b) {
			t.Fatalf("%s: no ExecStart=/usr/local/bin/…", u)
		}
		c := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(c, execStart.ReplaceAll(b, []byte("ExecStart="+self)), 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	out, err := exec.CommandContext(t.Context(), analyze, append([]string{"verify"}, copies...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdExampleIsAConfiguration: kaasd.env.example, with the variables kaasd.service
// sets, is a configuration kaasd accepts once its files exist (here under a temporary
// /etc/kaas), and names only variables kaasd reads.
func TestSystemdExampleIsAConfiguration(t *testing.T) {
	env := readEnvFile(t, filepath.Join(unitsDir, "kaasd.env.example"))
	unit, err := os.ReadFile(filepath.Join(unitsDir, "kaasd.service"))
	if err != nil {
		t.Fatal(err)
	}
	etc, creds := t.TempDir(), t.TempDir()
	// The unit's Environment= lines, with $CREDENTIALS_DIRECTORY (%d) and the files
	// LoadCredential= copies into it.
	for line := range strings.Lines(string(unit)) {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "Environment="); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = strings.ReplaceAll(v, "%d", creds)
		}
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "LoadCredential="); ok {
			id, _, _ := strings.Cut(kv, ":")
			content := map[string]string{
				"secrets.key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n", "vcd-password": "s3cret\n",
				"amqp-url": "amqps://kaas:pw@rabbitmq.example.com:5671/\n", "nats-password": "npw\n",
			}[id]
			if content == "" {
				t.Fatalf("the unit loads credential %s, which this test does not know", id)
			}
			if err := os.WriteFile(filepath.Join(creds, id), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ca := tlstest.NewCA(t, "provider CA")
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(etc, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "tls", "ca.pem"), pem, 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		env[k] = strings.ReplaceAll(v, "/etc/kaas/", etc+"/")
	}

	read := map[string]bool{}
	cfg, _, err := parse(nil, func(k string) string {
		read[k] = true
		return env[k]
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("kaasd refuses the example: %v", err)
	}
	for k := range env {
		if !read[k] {
			t.Errorf("%s is set, and kaasd never reads it", k)
		}
	}
	if len(strings.Split(cfg.NATSURL, ",")) != 3 || cfg.Replicas != 3 || cfg.NATSPassword != "npw" || cfg.NATSUser == "" ||
		cfg.NATSCAFile == "" || cfg.AMQPTLS.CAFile == "" || !strings.HasPrefix(cfg.AMQPURL, "amqps://") || cfg.VCDPassword != "s3cret" ||
		cfg.SecretsKeyFile != filepath.Join(creds, "secrets.key") || !slices.Contains(cfg.Roles, "executor") {
		t.Errorf("the example is not an HA instance: %+v", cfg)
	}
}

// readEnvFile reads a systemd EnvironmentFile: NAME=value lines, # comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(v, `"'$\`) {
			t.Fatalf("%s: %q is not NAME=value with a plain value", path, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestConfigurationReference: README's Configuration section names every variable kaasd
// reads, and its tables document only variables kaasd reads (a "(or `_FILE`)" included).
func TestConfigurationReference(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	read := map[string]bool{}
	if _, _, err := parse(nil, func(k string) string { read[k] = true; return aVCD[k] }, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for k := range read {
		if strings.HasPrefix(k, "KAAS_") && !strings.Contains(section, "`"+k+"`") && !strings.Contains(section, k+"`") {
			t.Errorf("README's Configuration section does not name %s", k)
		}
	}
	name := regexp.MustCompile("`(KAAS_[A-Z0-9_]+)`")
	orFile := regexp.MustCompile("`(KAAS_[A-Z0-9_]+)` \\(or `_FILE`\\)")
	documented := 0
	for line := range strings.Lines(section) {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `KAAS_") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			documented++
			if !read[m[1]] {
				t.Errorf("README documents %s, which kaasd does not read", m[1])
			}
		}
		for _, m := range orFile.FindAllStringSubmatch(cells[1], -1) {
			if !read[m[1]+"_FILE"] {
				t.Errorf("README says %s_FILE, which kaasd does not read", m[1])
			}
		}
	}
	if documented < 40 {
		t.Errorf("only %d variables in README's Configuration tables", documented)
	}
}
