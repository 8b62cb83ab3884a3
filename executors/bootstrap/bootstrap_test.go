package bootstrap

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The rendered user data is what a provider's template runs on a real VCD: changes to it
// show up as diffs here.
func TestRenderGolden(t *testing.T) {
	p := Params{ClusterName: "prod", ClusterID: "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30", KubernetesVersion: "v1.29.8",
		CNI: "antrea", CNIVersion: "1.14.0", SSHKey: "ssh-ed25519 AAAAC3Nza tenant@acme"}
	for _, role := range []string{"control-plane", "worker", "nfs"} {
		t.Run(role, func(t *testing.T) {
			pp := p
			pp.NodeName = map[string]string{"control-plane": "mstr-7k2q", "worker": "node-p3xz", "nfs": "nfsd-b8w2"}[role]
			if role == "worker" {
				pp.JoinCommand = "kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00"
			}
			got, err := Render(role, pp)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", role+".golden.yaml")
			if *update {
				_ = os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./executors/bootstrap -update)", err)
			}
			if got != string(want) {
				t.Fatalf("%s user data changed:\n%s", role, got)
			}
			if !strings.HasPrefix(got, "#cloud-config\n") {
				t.Fatal("not cloud-config")
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	if _, err := Render("etcd", Params{}); err == nil {
		t.Fatal("unknown role rendered")
	}
	if _, err := Render("worker", Params{NodeName: "n"}); err == nil {
		t.Fatal("a worker without a join command rendered")
	}
}
