package kaasctl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestLogin logs in every way VCD allows, and checks what is stored and that it works.
func TestLogin(t *testing.T) {
	e := startEnv(t)
	tests := []struct {
		name  string
		args  []string // after "login {url}"
		stdin string
		code  int
		out   string // stdout (exit 0) or stderr (otherwise) must contain it
		user  string // the session's user, on success
	}{
		{name: "password", args: []string{"--org", "acme", "--user", "alice", "--password-stdin", "--insecure"}, stdin: "alice-pass\n",
			out: "as alice@acme", user: "alice"},
		{name: "view-only user", args: []string{"--org", "acme", "--user", "bob", "--password-stdin", "--insecure"}, stdin: "bob-pass",
			out: "as bob@acme", user: "bob"},
		{name: "API token", args: []string{"--org", "acme", "--api-token-stdin", "--insecure"}, stdin: "alice-api-token\n",
			out: "as alice@acme with an API token", user: "alice"},
		{name: "provider password", args: []string{"--org", "System", "--user", "administrator", "--password-stdin", "--insecure"},
			stdin: "kaas-admin\n", out: "as administrator@System", user: "administrator"},
		{name: "provider API token", args: []string{"--org", "System", "--api-token-stdin", "--insecure"}, stdin: "kaas-provider-api-token\n",
			out: "with an API token", user: "administrator"},
		{name: "wrong password", args: []string{"--org", "acme", "--user", "alice", "--password-stdin", "--insecure"}, stdin: "nope\n",
			code: 1, out: "wrong user, org or password"},
		{name: "revoked token", args: []string{"--org", "acme", "--api-token-stdin", "--insecure"}, stdin: "stolen\n",
			code: 1, out: "invalid_grant"},
		{name: "untrusted certificate", args: []string{"--org", "acme", "--user", "alice", "--password-stdin"}, stdin: "alice-pass\n",
			code: 1, out: "certificate"},
		{name: "no org", args: []string{"--user", "alice", "--password-stdin"}, stdin: "alice-pass\n", code: 2, out: "--org is required"},
		{name: "no password on a pipe", args: []string{"--org", "acme", "--user", "alice"}, code: 2, out: "use --password-stdin"},
		{name: "empty stdin", args: []string{"--org", "acme", "--user", "alice", "--password-stdin"}, code: 2, out: "nothing was given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := run(t, dir, tt.stdin, append([]string{"login", e.url}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("want exit %d, got %s", tt.code, r)
			}
			if got := map[bool]string{true: r.out, false: r.err}[tt.code == 0]; !strings.Contains(got, tt.out) {
				t.Fatalf("want %q in the output, got %s", tt.out, r)
			}
			path := filepath.Join(dir, "config.yaml")
			if tt.code != 0 {
				if _, err := os.Stat(path); err == nil {
					t.Fatal("a failed login left a session")
				}
				return
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("config file mode %v, want 0600", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			var s struct {
				URL, Org, User, Token string
				Insecure              bool
			}
			if err := yaml.Unmarshal(b, &s); err != nil || s.URL != e.url || s.User != tt.user || s.Token == "" || !s.Insecure {
				t.Errorf("stored session %+v (%v):\n%s", s, err, b)
			}
			// The session works, --insecure included.
			if r := run(t, dir, "", "template", "list", "-o", "name"); r.code != 0 || !strings.Contains(r.out, "ubuntu-22.04_k8s-1.29_antrea-1.14") {
				t.Errorf("the session does not work: %s", r)
			}
			if r := run(t, dir, "", "logout"); r.code != 0 || !strings.Contains(r.out, "Logged out") {
				t.Errorf("logout: %s", r)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("logout left the session")
			}
		})
	}

	t.Run("session the server no longer knows", func(t *testing.T) {
		dir := t.TempDir()
		cfg := "url: " + e.url + "\norg: acme\nuser: alice\ntoken: expired\ninsecure: true\n"
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, dir, "", "cluster", "list")
		if r.code != 1 || !strings.Contains(r.err, "Error: session expired or invalid: run kaasctl login") {
			t.Fatalf("%s", r)
		}
	})
	t.Run("--config and KAAS_CONFIG", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "elsewhere", "kaas.yaml")
		r := run(t, t.TempDir(), "alice-pass", "login", e.url, "--org", "acme", "--user", "alice", "--password-stdin", "--insecure", "--config", path)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("config dir: %v %v", fi.Mode(), err)
		}
		if r := runEnv(t, t.TempDir(), map[string]string{"KAAS_CONFIG": path}, "cluster", "list"); r.code != 0 {
			t.Fatalf("KAAS_CONFIG: %s", r)
		}
	})
}
