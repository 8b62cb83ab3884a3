package kaasctl_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestUsageErrors: mistakes in how kaasctl is called exit 2 with a message saying what is
// wrong, before anything is asked of VCD (there is no VCD here).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"broken.yaml":  "metadata:\n  name: [unclosed\n",
		"list.yaml":    "- a\n- b\n",
		"tabbed.yaml":  "metadata:\n\tname: x\n",
		"unknown.json": `{"apiVersion": "cse.vmware.com/v2.1",`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string // {dir} is replaced
		code int
		err  string
	}{
		{"unknown flag", []string{"cluster", "list", "--bogus"}, 2, "unknown flag: --bogus"},
		{"unknown command", []string{"clusters"}, 2, `unknown command "clusters"`},
		{"unknown subcommand", []string{"cluster", "lsit"}, 2, `unknown command "lsit" for "kaasctl cluster"`},
		{"missing argument", []string{"cluster", "get"}, 2, "takes 1 argument(s) (a cluster's name or id), got 0"},
		{"extra argument", []string{"cluster", "list", "web"}, 2, "takes 0 argument(s)"},
		{"unknown output format", []string{"cluster", "list", "-o", "xml"}, 2, `unknown output format "xml"`},
		{"bad flag value", []string{"cluster", "scale", "web", "--workers", "many"}, 2, `invalid argument "many"`},
		{"scale without a count", []string{"cluster", "scale", "web"}, 2, "give --workers N"},
		{"upgrade without a template", []string{"cluster", "upgrade", "web"}, 2, "give --template T"},
		{"share with a made-up level", []string{"cluster", "share", "web", "--user", "bob", "--access", "Admin"}, 2, `--access "Admin"`},
		{"apply without a file", []string{"cluster", "apply"}, 2, "give -f FILE"},
		{"apply a file that is not there", []string{"cluster", "apply", "-f", "{dir}/nope.yaml"}, 2, "read the spec"},
		{"apply unparsable YAML", []string{"cluster", "apply", "-f", "{dir}/broken.yaml"}, 2, "neither YAML nor JSON"},
		{"apply YAML with tabs", []string{"cluster", "apply", "-f", "{dir}/tabbed.yaml"}, 2, "neither YAML nor JSON"},
		{"apply unparsable JSON", []string{"cluster", "apply", "-f", "{dir}/unknown.json"}, 2, "neither YAML nor JSON"},
		{"apply a list", []string{"cluster", "apply", "-f", "{dir}/list.yaml"}, 2, "must be a cluster entity"},
		{"sample flags without --sample", []string{"cluster", "apply", "-f", "x.yaml", "--workers", "3"}, 2, "--workers only fills in --sample"},
		{"events --all with --page", []string{"cluster", "events", "web", "--all", "--page", "2"}, 2, "none of the others can be"},
		{"not logged in", []string{"cluster", "list"}, 1, "Error: not logged in: run kaasctl login"},
		{"not logged in, by name", []string{"cluster", "get", "web"}, 1, "run kaasctl login"},
		{"logout when logged out", []string{"logout"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			r := run(t, t.TempDir(), "", args...)
			if r.code != tt.code || !strings.Contains(r.err, tt.err) {
				t.Fatalf("want exit %d and %q on stderr, got %s", tt.code, tt.err, r)
			}
			if r.code == 2 && !strings.Contains(r.err, "--help' for usage") {
				t.Errorf("a usage error should point to --help: %s", r)
			}
			if r.out != "" && r.code != 0 {
				t.Errorf("an error printed on stdout: %s", r)
			}
		})
	}
}

// TestOfflineCommands need no VCD: help, completion scripts, the sample spec, version.
func TestOfflineCommands(t *testing.T) {
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"help", []string{"--help"}, "Exit codes: 0 success, 1 refused or failed, 2 usage error."},
		{"bash completion", []string{"completion", "bash"}, "bash completion V2 for kaasctl"},
		{"zsh completion", []string{"completion", "zsh"}, "#compdef kaasctl"},
		{"fish completion", []string{"completion", "fish"}, "complete -c kaasctl"},
		{"powershell completion", []string{"completion", "powershell"}, "Register-ArgumentCompleter"},
		{"complete a subcommand", []string{"__complete", "cluster", "sc"}, "scale"},
		{"complete -o", []string{"__complete", "cluster", "list", "-o", ""}, "wide"},
		{"complete --access", []string{"__complete", "cluster", "share", "web", "--access", "Read"}, "ReadWrite"},
		{"version", []string{"version"}, "kaasctl: test"},
		{"sample with flags", []string{"cluster", "apply", "--sample", "--name", "web", "--org", "beta", "--workers", "5", "--template", "t:1"},
			"name: web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, t.TempDir(), "", tt.args...)
			if r.code != 0 || !strings.Contains(r.out, tt.out) {
				t.Fatalf("want exit 0 and %q on stdout, got %s", tt.out, r)
			}
		})
	}

	t.Run("sample is a valid entity", func(t *testing.T) {
		r := run(t, t.TempDir(), "", "cluster", "apply", "--sample", "--name", "web", "--org", "beta", "--workers", "5", "--template", "yes")
		var spec struct {
			APIVersion string `json:"apiVersion"`
			Kind       string
			Metadata   struct{ Name, OrgName, VirtualDataCenterName string }
			Spec       struct {
				Distribution struct {
					TemplateName     string `json:"templateName"`
					TemplateRevision int    `json:"templateRevision"`
				}
				Topology struct{ Workers struct{ Count int } }
				Settings struct {
					OvdcNetwork       string `json:"ovdcNetwork"`
					RollbackOnFailure bool   `json:"rollbackOnFailure"`
				}
			}
		}
		if err := yaml.Unmarshal([]byte(r.out), &spec); err != nil {
			t.Fatalf("%v\n%s", err, r.out)
		}
		if spec.APIVersion != "cse.vmware.com/v2.1" || spec.Kind != "native" || spec.Metadata.Name != "web" || spec.Metadata.OrgName != "beta" ||
			spec.Metadata.VirtualDataCenterName != "acme-vdc" || spec.Spec.Distribution.TemplateName != "yes" ||
			spec.Spec.Distribution.TemplateRevision != 1 || spec.Spec.Topology.Workers.Count != 5 ||
			spec.Spec.Settings.OvdcNetwork != "acme-net" || !spec.Spec.Settings.RollbackOnFailure {
			t.Errorf("sample %+v:\n%s", spec, r.out)
		}
	})
}

// TestRefusals: what the server refuses exits 1 with the server's own words and codes;
// an operation that fails exits 1 with why.
func TestRefusals(t *testing.T) {
	e := startEnv(t)
	e.login("alice", "acme", "alice-pass")
	e.login("bob", "acme", "bob-pass")
	tests := []struct {
		name   string
		user   string
		change map[string]any // set in the sample spec, by dotted path
		wait   bool
		err    []string
	}{
		{name: "template not in the catalog", change: map[string]any{"spec.distribution.templateName": "no-such-template"},
			err: []string{"Error: spec.distribution.templateName: template no-such-template revision 1 is not in the provider's catalog", "(HTTP 400)"}},
		{name: "invalid name", change: map[string]any{"metadata.name": "bad_name"},
			err: []string{"Invalid cluster name 'bad_name'", "(HTTP 400, minor code 4001)"}},
		{name: "VDC not enabled", change: map[string]any{"metadata.virtualDataCenterName": "other-vdc"},
			err: []string{"org VDC 'other-vdc' of org 'acme': it is not enabled", "minor code 4021"}},
		{name: "unknown field", change: map[string]any{"spec.topology.workers.replicas": 3},
			err: []string{"replicas", "(HTTP 400"}},
		{name: "view-only user", user: "bob",
			err: []string{"Access denied", "(HTTP 403)"}},
		{name: "operation fails", change: map[string]any{"metadata.name": "broken", "spec.distribution.templateName": "ubuntu-22.04_k8s-1.30_broken"},
			wait: true, err: []string{"CreateCluster FAILED", "Error: CreateCluster FAILED (CREATE:FAILED)", "kubeadm-init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := tt.user
			if user == "" {
				user = "alice"
			}
			spec := map[string]any{}
			if err := yaml.Unmarshal([]byte(e.as(user, "cluster", "apply", "--sample").out), &spec); err != nil {
				t.Fatal(err)
			}
			for path, v := range tt.change {
				setDotted(spec, path, v)
			}
			b, _ := yaml.Marshal(spec)
			file := filepath.Join(t.TempDir(), "spec.yaml")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"cluster", "apply", "-f", file}
			if tt.wait {
				args = append(args, "--wait", "--poll=50ms")
			}
			r := e.as(user, args...)
			if r.code != 1 {
				t.Fatalf("want exit 1, got %s", r)
			}
			for _, s := range tt.err {
				if !strings.Contains(r.err, s) {
					t.Errorf("want %q on stderr, got %s", s, r)
				}
			}
		})
	}
}

func setDotted(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	m[keys[len(keys)-1]] = v
}

// TestRolledBackCreate: a create that fails and is rolled back says why and leaves no
// cluster, as CSE leaves none; its past stays readable by id, and its name is free for
// the same apply with a good template.
func TestRolledBackCreate(t *testing.T) {
	e := startEnv(t)
	e.login("alice", "acme", "alice-pass")
	spec := map[string]any{}
	if err := yaml.Unmarshal([]byte(e.as("alice", "cluster", "apply", "--sample", "--name", "phoenix", "--workers", "0").out), &spec); err != nil {
		t.Fatal(err)
	}
	apply := func(template string) result {
		t.Helper()
		setDotted(spec, "spec.distribution.templateName", template)
		b, _ := yaml.Marshal(spec)
		file := filepath.Join(t.TempDir(), "spec.yaml")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return e.as("alice", "cluster", "apply", "-f", file, "--wait", "--poll=50ms", "-o", "json")
	}

	r := apply("ubuntu-22.04_k8s-1.30_broken")
	if r.code != 1 || !strings.Contains(r.err, "Error: CreateCluster FAILED (CREATE:FAILED)") || !strings.Contains(r.err, "kubeadm-init") {
		t.Fatalf("failed create: %s", r)
	}
	// The cluster is gone, so what is printed is the operation: failed, with why.
	var op struct {
		ClusterID, Status, Phase, Step string
		Error                          *struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(r.out), &op); err != nil {
		t.Fatalf("operation: %v\n%s", err, r)
	}
	if op.Status != "FAILED" || op.Phase != "CREATE:FAILED" || op.Step != "OperationRolledBack" || op.Error == nil ||
		!strings.Contains(op.Error.Message, "kubeadm-init") || !strings.HasPrefix(op.ClusterID, "urn:vcloud:entity:") {
		t.Fatalf("operation %+v\n%s", op, r)
	}
	if r := e.as("alice", "cluster", "get", "phoenix"); r.code != 1 || !strings.Contains(r.err, "cluster phoenix not found") {
		t.Errorf("get by name: %s", r)
	}
	if r := e.as("alice", "cluster", "get", op.ClusterID); r.code != 1 || !strings.Contains(r.err, "(HTTP 404)") {
		t.Errorf("get by id: %s", r)
	}
	if r := e.as("alice", "cluster", "list"); r.code != 0 || strings.Contains(r.out, "phoenix") {
		t.Errorf("list: %s", r)
	}
	if r := e.as("alice", "cluster", "get", op.ClusterID, "--as-of", "0s", "-o", "json"); r.code != 0 ||
		!strings.Contains(r.out, `"phase": "CREATE:FAILED"`) || !strings.Contains(r.out, `"rolledBack": true`) {
		t.Errorf("as of now, by id: %s", r)
	}

	r = apply("ubuntu-22.04_k8s-1.29_antrea-1.14")
	if r.code != 0 {
		t.Fatalf("the same apply with a good template: %s", r)
	}
	var again struct{ ID string }
	if err := json.Unmarshal([]byte(r.out), &again); err != nil || again.ID == "" || again.ID == op.ClusterID {
		t.Fatalf("new cluster id %q (the rolled-back one was %s): %v\n%s", again.ID, op.ClusterID, err, r)
	}
	if r := e.as("alice", "cluster", "get", "phoenix"); r.code != 0 || !strings.Contains(r.out, "CREATE:SUCCEEDED") {
		t.Errorf("get the new cluster: %s", r)
	}
}
