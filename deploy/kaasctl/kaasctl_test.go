package kaasctl_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// step is one kaasctl run of a scenario and what it must show.
type step struct {
	name  string
	user  string   // whose session; "" is alice's
	args  []string // {spec}, {dir} and {url} are replaced
	stdin string
	code  int
	out   []string // regexps stdout must match
	err   []string // regexps stderr must match
	// golden, when set, is the file in testdata that normalized stdout must equal.
	golden string
	check  func(t *testing.T, r result)
}

// runSteps runs a scenario's steps in order, each a subtest.
func (e *env) runSteps(t *testing.T, dir string, steps []step) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			args := make([]string, len(s.args))
			for i, a := range s.args {
				a = strings.ReplaceAll(a, "{spec}", filepath.Join(dir, "spec.yaml"))
				a = strings.ReplaceAll(a, "{dir}", dir)
				args[i] = strings.ReplaceAll(a, "{url}", e.url)
			}
			user := s.user
			if user == "" {
				user = "alice"
			}
			r := run(t, e.dir(user), s.stdin, args...)
			checkResult(t, s, r)
		})
	}
}

func checkResult(t *testing.T, s step, r result) {
	t.Helper()
	if r.code != s.code {
		t.Fatalf("kaasctl %s: want exit %d, got %s", strings.Join(s.args, " "), s.code, r)
	}
	for _, re := range s.out {
		if !regexp.MustCompile(re).MatchString(r.out) {
			t.Errorf("stdout does not match %q:\n%s", re, r)
		}
	}
	for _, re := range s.err {
		if !regexp.MustCompile(re).MatchString(r.err) {
			t.Errorf("stderr does not match %q:\n%s", re, r)
		}
	}
	if s.golden != "" {
		golden(t, s.golden, normalize(r.out, !strings.HasSuffix(s.golden, ".json") && !strings.HasSuffix(s.golden, ".yaml")))
	}
	if s.check != nil {
		s.check(t, r)
	}
}

// TestClusterLifecycle is a tenant's whole story through kaasctl: a sample spec, create
// and wait, read it every way, kubeconfig, share, scale, history, delete.
func TestClusterLifecycle(t *testing.T) {
	e := startEnv(t)
	e.login("alice", "acme", "alice-pass")
	e.login("bob", "acme", "bob-pass")
	dir := t.TempDir()
	const wait = "--poll=50ms"

	e.runSteps(t, dir, []step{
		{name: "sample", args: []string{"cluster", "apply", "--sample"}, out: []string{`apiVersion: cse.vmware.com/v2.1`, `orgName: acme`},
			check: func(t *testing.T, r result) {
				if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(r.out), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "create and wait", args: []string{"cluster", "apply", "-f", "{spec}", "--wait", wait},
			out: []string{`my-cluster\s+acme\s+acme-vdc\s+CREATE:SUCCEEDED`}, err: []string{`CreateCluster RUNNING`, `CreateCluster SUCCEEDED .*100%`}},
		{name: "apply again changes nothing", args: []string{"cluster", "apply", "-f", "{spec}"},
			out: []string{`CREATE:SUCCEEDED`}, err: []string{`unchanged`}},

		{name: "list table", args: []string{"cluster", "list"}, golden: "list.table"},
		{name: "list wide", args: []string{"cluster", "list", "-o", "wide"}, golden: "list.wide"},
		{name: "list json", args: []string{"cluster", "list", "-o", "json"}, golden: "list.json"},
		{name: "list yaml", args: []string{"cluster", "list", "-o", "yaml"}, golden: "list.yaml"},
		{name: "list name", args: []string{"cluster", "list", "-o", "name"}, golden: "list.name"},
		{name: "get table", args: []string{"cluster", "get", "my-cluster"}, golden: "get.table"},
		{name: "get wide", args: []string{"cluster", "get", "my-cluster", "-o", "wide"}, golden: "get.wide"},
		{name: "get json", args: []string{"cluster", "get", "my-cluster", "-o", "json"}, golden: "get.json"},
		{name: "get yaml", args: []string{"cluster", "get", "my-cluster", "-o", "yaml"}, golden: "get.yaml"},
		{name: "get name", args: []string{"cluster", "get", "my-cluster", "-o", "name"}, golden: "get.name"},
		{name: "complete a cluster name", args: []string{"__complete", "cluster", "get", "my"}, out: []string{`(?m)^my-cluster\tacme/acme-vdc$`}},
		{name: "by id", args: []string{"cluster", "list", "-o", "wide"},
			check: func(t *testing.T, r result) {
				id := regexp.MustCompile(`urn:vcloud:entity:cse:nativeCluster:\S+`).FindString(r.out)
				if r := e.as("alice", "cluster", "get", id, "-o", "name"); r.code != 0 || r.out != "my-cluster\n" {
					t.Errorf("get by id %q: %s", id, r)
				}
			}},
		{name: "bob sees it not", user: "bob", args: []string{"cluster", "get", "my-cluster"}, code: 1, err: []string{`cluster my-cluster not found`}},

		{name: "kubeconfig", args: []string{"cluster", "kubeconfig", "my-cluster", "-f", "{dir}/kubeconfig"},
			check: func(t *testing.T, _ result) {
				fi, err := os.Stat(filepath.Join(dir, "kubeconfig"))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("kubeconfig mode %v, want 0600", fi.Mode().Perm())
				}
				b, _ := os.ReadFile(filepath.Join(dir, "kubeconfig"))
				var kc struct {
					Clusters []struct {
						Cluster struct{ Server string } `json:"cluster"`
					} `json:"clusters"`
				}
				if err := yaml.Unmarshal(b, &kc); err != nil || len(kc.Clusters) == 0 || !strings.HasPrefix(kc.Clusters[0].Cluster.Server, "https://") {
					t.Errorf("not a kubeconfig (%v):\n%s", err, b)
				}
			}},
		{name: "kubeconfig to stdout", args: []string{"cluster", "kubeconfig", "my-cluster"}, out: []string{`(?m)^kind: Config`}},

		{name: "share with bob", args: []string{"cluster", "share", "my-cluster", "--user", "bob", "--access", "readonly"},
			out: []string{`bob\s+ReadOnly`}},
		{name: "bob sees it", user: "bob", args: []string{"cluster", "list", "-o", "name"}, out: []string{`^my-cluster\n$`}},
		{name: "bob may not scale", user: "bob", args: []string{"cluster", "scale", "my-cluster", "--workers", "1"}, code: 1,
			err: []string{`Access denied.*\(HTTP 403\)`}},
		{name: "acl", args: []string{"cluster", "acl", "my-cluster", "-o", "wide"}, out: []string{`bob\s+ReadOnly\s+urn:vcloud:user:`}},
		{name: "unshare", args: []string{"cluster", "unshare", "my-cluster", "--user", "bob"}, out: []string{`No resources found`}},

		{name: "scale and wait", args: []string{"cluster", "scale", "my-cluster", "--workers", "3", "--wait", wait, "-o", "wide"},
			out: []string{`UPDATE:SUCCEEDED\s+upstream v1.29.8\s+3\s`}, err: []string{`ScaleWorkers SUCCEEDED`}},
		{name: "no change refused", args: []string{"cluster", "scale", "my-cluster", "--workers", "3"}, code: 1,
			err: []string{`^Error: .*nothing to change.*\(HTTP 400`}},
		{name: "upgrade plan", args: []string{"cluster", "upgrade-plan", "my-cluster"}, out: []string{`ubuntu-22.04_k8s-1.30_antrea-1.15\s+1\s`}},
		{name: "describe", args: []string{"cluster", "describe", "my-cluster"},
			out: []string{`(?m)^Name:\s+my-cluster$`, `Phase:\s+UPDATE:SUCCEEDED`, `(?m)^  worker\s+node-\w+\s+10\.`, `Last operation:`, `Recent events:`}},
		{name: "events", args: []string{"cluster", "events", "my-cluster", "--all"}, out: []string{`TIME\s+TYPE\s+ACTOR\s+SUMMARY`, `ClusterCreationStarted\s+urn:vcloud:user:\S+\s+spec=`, `ClusterScaled .*workers=3`}},
		{name: "events page", args: []string{"cluster", "events", "my-cluster", "--page-size", "2", "-o", "json"},
			out: []string{`"pageSize": 2`, `"resultTotal": \d+`}},

		{name: "delete and wait", args: []string{"cluster", "delete", "my-cluster", "--wait", wait},
			out: []string{`DeleteCluster\s+SUCCEEDED`}, err: []string{`DeleteCluster SUCCEEDED`}},
		{name: "gone", args: []string{"cluster", "list"}, out: []string{`No resources found`}},
	})
}

// TestProvider is a provider's story: org VDCs enabled and disabled, the service state,
// templates, versions; tenants feel each change.
func TestProvider(t *testing.T) {
	e := startEnv(t)
	e.login("administrator", "System", "kaas-admin")
	e.login("alice", "acme", "alice-pass")
	dir := t.TempDir()
	const admin, wait = "administrator", "--poll=50ms"
	e.runSteps(t, dir, []step{
		{name: "org VDCs", user: admin, args: []string{"ovdc", "list", "-o", "wide"}, out: []string{`(?m)^acme-vdc\s+acme\s+native\s+[0-9a-f]{8}-[0-9a-f-]{27}$`}},
		{name: "disable", user: admin, args: []string{"ovdc", "disable", "acme-vdc", "--wait", wait},
			out: []string{`acme-vdc\s+acme\s+none`}, err: []string{`SetVDCRuntimes SUCCEEDED`}},
		{name: "sample", args: []string{"cluster", "apply", "--sample"},
			check: func(t *testing.T, r result) {
				if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(r.out), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "tenant refused in a disabled VDC", args: []string{"cluster", "apply", "-f", "{spec}"}, code: 1, err: []string{`it is not enabled for native Kubernetes`}},
		{name: "tenants may not enable", args: []string{"ovdc", "enable", "acme-vdc"}, code: 1, err: []string{`providers .*only.*\(HTTP 403\)`}},
		{name: "enable", user: admin, args: []string{"ovdc", "enable", "acme-vdc", "--org", "acme", "--wait", wait, "-o", "name"}, out: []string{`^acme-vdc\n$`}},
		{name: "enable a VDC that is not there", user: admin, args: []string{"ovdc", "enable", "nope"}, code: 1, err: []string{`org VDC nope not found`}},
		{name: "enable in the wrong org", user: admin, args: []string{"ovdc", "enable", "acme-vdc", "--org", "beta"}, code: 1, err: []string{`not found in org beta`}},

		{name: "system info", user: admin, args: []string{"system", "info"}, out: []string{`product:\s+kaas`, `status:\s+Running`, `templates_synced:\s+yes`}},
		{name: "system info json", args: []string{"system", "info", "-o", "json"}, out: []string{`"cse_server_api_version": "36.0"`}},
		{name: "disable the service", user: admin, args: []string{"system", "disable"}, out: []string{`CSE service is disabled`}},
		{name: "tenants refused while disabled", args: []string{"cluster", "list"}, code: 1, err: []string{`CSE service is disabled`}},
		{name: "tenants may not enable it", args: []string{"system", "enable"}, code: 1, err: []string{`\(HTTP 403\)`}},
		{name: "enable the service", user: admin, args: []string{"system", "enable", "-o", "json"}, out: []string{`"message": "CSE service is enabled."`}},

		{name: "templates", args: []string{"template", "list"}, out: []string{`(?m)^ubuntu-22.04_k8s-1.29_antrea-1.14\s+1\s+1.29.8\s+ubuntu-22.04\s+antrea 1.14.0\s+no$`}},
		{name: "template names", args: []string{"template", "list", "-o", "name"}, out: []string{`(?m)^ubuntu-22.04_k8s-1.30_antrea-1.15$`}},
		{name: "complete a template", args: []string{"__complete", "cluster", "upgrade", "web", "--template", "ubuntu-22.04_k8s-1.30"}, out: []string{`ubuntu-22.04_k8s-1.30_antrea-1.15`}},
		{name: "version", args: []string{"version"}, out: []string{`kaasctl: test`, `server:\s+\S+ \(API 36.0, Running\)`}},
		{name: "version json", args: []string{"version", "-o", "json"}, out: []string{`"client": \{\s+"version": "test"`, `"product": "kaas"`}},
	})
}
