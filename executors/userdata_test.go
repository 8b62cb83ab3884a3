package executors_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/memstore"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// guestReports is a VCD whose control plane guests report join instead of their own join
// command (when join is set), and which keeps the specs of the VMs kaas creates: those that
// carry user data (a VM is also asked for without, to be made or tagged ahead of it).
type guestReports struct {
	executors.VCD
	join  string
	mu    sync.Mutex
	specs map[string]executors.VMSpec
}

func (g *guestReports) GuestInfo(ctx context.Context, ref executors.VMRef) (map[string]string, error) {
	gi, err := g.VCD.GuestInfo(ctx, ref)
	if err == nil && g.join != "" && gi[executors.GuestJoinCommand] != "" {
		gi[executors.GuestJoinCommand] = base64.StdEncoding.EncodeToString([]byte(g.join))
	}
	return gi, err
}

func (g *guestReports) EnsureVM(ctx context.Context, spec executors.VMSpec) (executors.Status, error) {
	g.mu.Lock()
	if spec.GuestInfo[executors.GuestUserData] != "" {
		g.specs[spec.Name] = spec
	}
	g.mu.Unlock()
	return g.VCD.EnsureVM(ctx, spec)
}

func (g *guestReports) userData(t *testing.T, role string) string {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.specs {
		if s.Role == role {
			ud, err := base64.StdEncoding.DecodeString(s.GuestInfo[executors.GuestUserData])
			if err != nil {
				t.Fatal(err)
			}
			return string(ud)
		}
	}
	t.Fatalf("no %s VM was created", role)
	return ""
}

func runWith(t *testing.T, join string) (*harness, *guestReports) {
	t.Helper()
	st := memstore.New(memstore.Config{})
	v, err := vcdmem.New(fastCloud())
	if err != nil {
		t.Fatal(err)
	}
	g := &guestReports{VCD: v, join: join, specs: map[string]executors.VMSpec{}}
	ex, err := executors.New(fastConfig(), st, g)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ex.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, store: st, vcd: v}, g
}

// A control plane is a guest: what it reports as its join command is checked when kaas
// takes it, and anything but kubeadm's command fails the create, stores nothing and
// reaches no worker.
func TestUnreadableJoinCommandFailsTheCreate(t *testing.T) {
	const tok = "abcdef.0123456789abcdef"
	hash := "sha256:" + strings.Repeat("ab", 32)
	for _, tt := range []struct{ name, join string }{
		{"a command after it", "kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + "; touch /x"},
		{"a command in the endpoint", "kubeadm join $(touch /x):6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash},
		{"a control plane join", "kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " --control-plane"},
		{"no CA hash", "kubeadm join 10.0.0.10:6443 --token " + tok},
		{"no join", "touch /x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, g := runWith(t, tt.join)
				id := events.DeriveID("cluster", "hostile-guest")
				h.send(id, events.CreateCluster{Spec: spec("hostile-guest", good, 2, false)})
				st := h.waitIdle(id, 2)
				f := st.LastFailure
				if st.Phase != events.PhaseCreateFailed || f == nil || f.Code != events.CodeBootstrapFailed || !strings.Contains(f.Message, "join command") {
					t.Fatalf("phase %s failure %+v", st.Phase, f)
				}
				if strings.Contains(f.Message, tok) || strings.Contains(f.Message, "touch") {
					t.Fatalf("the failure quotes what the guest reported: %q", f.Message)
				}
				if _, err := h.store.Secrets().Get(t.Context(), "cluster."+id+".join"); err == nil {
					t.Fatal("the join command was stored")
				}
				if a := h.vapp(id); a == nil || len(a.VMs) != 1 {
					t.Fatalf("kept VMs: %+v (want the control plane only)", a)
				}
				if len(g.specs) != 1 {
					t.Fatalf("%d VMs were specified", len(g.specs))
				}
			})
		})
	}
}

// authorizedKey returns a real ed25519 public key in authorized_keys form with a comment.
func authorizedKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

// Values that are valid yet mean something else to YAML (a cluster named "no", false in
// YAML 1.1; a key comment with ": " and " #") reach the nodes as the strings they are,
// and the cluster comes up: the guest reads its user data as cloud-init and kubeadm do.
func TestYAMLLookingValuesReachTheNodesAsStrings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, g := runWith(t, "")
		id := events.DeriveID("cluster", "yamlish")
		sp := spec("no", good, 1, false)
		sp.SSHKey = authorizedKey(t, "alice: admin #laptop")
		sp.PodCIDRs, sp.ServiceCIDRs = []string{"10.244.0.0/16"}, []string{"10.96.0.0/12"}
		h.send(id, events.CreateCluster{Spec: sp})
		st := h.waitIdle(id, 2)
		if st.Phase != events.PhaseCreateSucceeded {
			t.Fatalf("phase %s failure %+v", st.Phase, st.LastFailure)
		}
		type file struct{ Path, Content string }
		var cp struct {
			SSHAuthorizedKeys []string `json:"ssh_authorized_keys"`
			WriteFiles        []file   `json:"write_files"`
		}
		if err := sigsyaml.Unmarshal([]byte(g.userData(t, events.RoleControlPlane)), &cp); err != nil {
			t.Fatal(err)
		}
		if len(cp.SSHAuthorizedKeys) != 1 || cp.SSHAuthorizedKeys[0] != sp.SSHKey {
			t.Fatalf("ssh keys %q, want [%q]", cp.SSHAuthorizedKeys, sp.SSHKey)
		}
		var kubeadm string
		for _, f := range cp.WriteFiles {
			if f.Path == "/etc/kaas/kubeadm.yaml" {
				kubeadm = f.Content
			}
		}
		_, clusterDoc, _ := strings.Cut(kubeadm, "---\n")
		var cc struct {
			ClusterName string `json:"clusterName"`
			Networking  struct {
				PodSubnet     string `json:"podSubnet"`
				ServiceSubnet string `json:"serviceSubnet"`
			} `json:"networking"`
		}
		if err := sigsyaml.Unmarshal([]byte(clusterDoc), &cc); err != nil {
			t.Fatalf("%v\n%s", err, kubeadm)
		}
		if cc.ClusterName != "no" || cc.Networking.PodSubnet != "10.244.0.0/16" || cc.Networking.ServiceSubnet != "10.96.0.0/12" {
			t.Fatalf("ClusterConfiguration %+v", cc)
		}
		// The worker got the control plane's join command as data, stored as kaas read it.
		join, err := h.store.Secrets().Get(t.Context(), st.ControlPlane.JoinCommandRef)
		if err != nil || strings.HasSuffix(string(join), " ") {
			t.Fatalf("stored join command %q: %v", join, err)
		}
		worker := g.userData(t, events.RoleWorker)
		if strings.Contains(worker, "kubeadm join 10.") || !strings.Contains(worker, "kubeadm join --config /etc/kaas/kubeadm.yaml") {
			t.Fatalf("worker user data:\n%s", worker)
		}
	})
}
