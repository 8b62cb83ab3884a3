package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kaasproject/kaas/events"
)

// Keys for the tests: an ed25519 key from a fixed seed (not a secret), and a DSA key, a type
// OpenSSH no longer accepts.
const (
	edKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdtjf9EcNxSlHq3C5k71f4WnUh67+tSuF2IAG7ZiLNO tenant@acme"
	dsaKey = "ssh-dss AAAAB3NzaC1kc3MAAACBAPa5uCjy7jxlFwpuReiw9UTZXwXAYoRltP0ClivL27CyVdfldOe8ZuB52caUiBYpgFL8hhMdJTo0lOG11PUk1sQtt5qVIwWn8eE/WI0w3cRxBGACZJXHC8HqMi4QpYX9VVPucq/N2RFr8mPflKA7CWmkgvjT9m8P9XUjtMwKF4q7AAAAFQDCIpBx+3SzQhLyzrzxiUOzwFr8NQAAAIEAs+yLO25hAhbcbm8NX22SSWfOB/gxhykrMCUYHY2GtuOenjBecpvIkF/zP6DU4k3/Lij8sNUDLMDe3nxNLhAXrRL0S2lMEc6AcFrp9fyY269UJ0DbJGrlxL694f/9oeU1bfso+KF07CbDhM7L/6CuzJMYlO+KMpqjuqTsjtNxQlUAAACAEH60AieWc3KeXEtzUS4e297s9CguP/nwGjJwHy6fhd+RyLT9UoLe2g0ax3p4FkmvzSrtNMrYfMdHPJoqC9BXycbutGVc9387ky5PpfkOQUCqUUxWojDRUt+Q6skTTqvwXRjcrwQsJHdxV6106kVMYmj70yFsD1yoHCzu1mz8l8w="
)

func authorizedKey(t *testing.T, pub any) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestValidateSpec(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, shortRSA, ecKey := authorizedKey(t, &rsa2048.PublicKey), authorizedKey(t, &rsa1024.PublicKey), authorizedKey(t, &ec.PublicKey)

	tests := []struct {
		name  string
		edit  func(*events.ClusterSpec)
		field string // "" when the spec is good
		text  string
	}{
		{"good", func(*events.ClusterSpec) {}, "", ""},
		{"good with everything", func(s *events.ClusterSpec) {
			s.SSHKey, s.PodCIDRs, s.ServiceCIDRs = edKey, []string{"10.244.0.0/16"}, []string{"10.96.0.0/12"}
			s.ControlPlane.CPU, s.ControlPlane.MemoryMB, s.Workers.CPU, s.Workers.MemoryMB = 2, 4096, 128, 1<<20
			s.NFS = events.NodePool{Count: 1, SizingClass: "Gold Medium", StorageProfile: "Stockage rapide"}
			s.OrgName, s.VDC, s.Network, s.Site = "Société Générale", "vdc-ü", "net 1", "https://vcd.example.com"
			s.CNI = events.Component{Name: "antrea", Version: "v1.14.0"}
		}, "", ""},

		// The cluster name: CSE's rule.
		{"name missing", func(s *events.ClusterSpec) { s.Name = "" }, "name", "missing"},
		{"name digit first", func(s *events.ClusterSpec) { s.Name = "9lives" }, "name", "Invalid cluster name '9lives'"},
		{"name 25", func(s *events.ClusterSpec) { s.Name = "a" + strings.Repeat("b", 24) }, "", ""},
		{"name 26", func(s *events.ClusterSpec) { s.Name = "a" + strings.Repeat("b", 25) }, "name", "at most 25"},
		{"name newline", func(s *events.ClusterSpec) { s.Name = "c1\n" }, "name", `Invalid cluster name 'c1\n'`},
		{"name shell", func(s *events.ClusterSpec) { s.Name = "c$(touch /x)" }, "name", "Invalid cluster name"},
		{"name unicode", func(s *events.ClusterSpec) { s.Name = "clüster" }, "name", "Invalid cluster name"},
		{"name underscore", func(s *events.ClusterSpec) { s.Name = "c_1" }, "name", "Invalid cluster name"},

		// Names that reach VCD.
		{"org missing", func(s *events.ClusterSpec) { s.OrgName = "" }, "orgName", "missing"},
		{"org newline", func(s *events.ClusterSpec) { s.OrgName = "acme\nruncmd:" }, "orgName", `"acme\nruncmd:"`},
		{"org too long", func(s *events.ClusterSpec) { s.OrgName = strings.Repeat("o", 129) }, "orgName", "129 characters"},
		{"org 128", func(s *events.ClusterSpec) { s.OrgName = strings.Repeat("ö", 128) }, "", ""},
		{"vdc right-to-left override", func(s *events.ClusterSpec) { s.VDC = "vdc\u202e1" }, "vdc", "U+202E"},
		{"vdc zero width", func(s *events.ClusterSpec) { s.VDC = "vdc\u200b" }, "vdc", "U+200B"},
		{"vdc not utf-8", func(s *events.ClusterSpec) { s.VDC = "vdc\xff" }, "vdc", "UTF-8"},
		{"network tab", func(s *events.ClusterSpec) { s.Network = "net\t1" }, "network", "control"},
		{"network trailing space", func(s *events.ClusterSpec) { s.Network = "net1 " }, "network", "white space"},
		{"network missing", func(s *events.ClusterSpec) { s.Network = "" }, "network", "missing"},
		{"template escape", func(s *events.ClusterSpec) { s.Template.Name = "t\x1b[2J" }, "template.name", "control"},
		{"template revision", func(s *events.ClusterSpec) { s.Template.Revision = 0 }, "template.revision", "1 or more"},
		{"sizing class newline", func(s *events.ClusterSpec) { s.Workers.SizingClass = "M\nruncmd:" }, "workers.sizingClass", "control"},
		{"storage profile long", func(s *events.ClusterSpec) { s.NFS.StorageProfile = strings.Repeat("g", 200) }, "nfs.storageProfile", "200 characters"},
		{"site control", func(s *events.ClusterSpec) { s.Site = "https://x\r\n" }, "site", "control"},
		{"cni name shell", func(s *events.ClusterSpec) { s.CNI.Name = "antrea; touch /x" }, "cni.name", "not a name"},
		{"cni version shell", func(s *events.ClusterSpec) { s.CNI.Version = "$(touch /x)" }, "cni.version", "not a version"},

		// Counts.
		{"three control planes", func(s *events.ClusterSpec) { s.ControlPlane.Count = 3 }, "controlPlane.count", "exactly one"},
		{"workers -1", func(s *events.ClusterSpec) { s.Workers.Count = -1 }, "workers.count", "not -1"},
		{"workers 101", func(s *events.ClusterSpec) { s.Workers.Count = 101 }, "workers.count", "not 101"},
		{"nfs -1", func(s *events.ClusterSpec) { s.NFS.Count = -1 }, "nfs.count", "not -1"},

		// CPU and memory.
		{"control plane cpu -1", func(s *events.ClusterSpec) { s.ControlPlane.CPU = -1 }, "controlPlane.cpu", "between 2 and 128, not -1"},
		{"control plane cpu 1", func(s *events.ClusterSpec) { s.ControlPlane.CPU = 1 }, "controlPlane.cpu", "between 2 and 128, not 1"},
		{"worker cpu 1", func(s *events.ClusterSpec) { s.Workers.CPU = 1 }, "", ""},
		{"worker cpu 129", func(s *events.ClusterSpec) { s.Workers.CPU = 129 }, "workers.cpu", "not 129"},
		{"control plane memory 2^40", func(s *events.ClusterSpec) { s.ControlPlane.MemoryMB = 1 << 40 }, "controlPlane.memoryMb", "not 1099511627776"},
		{"worker memory 1 TiB + 1", func(s *events.ClusterSpec) { s.Workers.MemoryMB = 1<<20 + 1 }, "workers.memoryMb", "between 1024 and 1048576"},
		{"worker memory -1", func(s *events.ClusterSpec) { s.Workers.MemoryMB = -1 }, "workers.memoryMb", "not -1"},
		{"worker memory 512", func(s *events.ClusterSpec) { s.Workers.MemoryMB = 512 }, "workers.memoryMb", "not 512"},
		{"control plane memory 1024", func(s *events.ClusterSpec) { s.ControlPlane.MemoryMB = 1024 }, "controlPlane.memoryMb", "between 2048"},
		{"sizing class and cpu", func(s *events.ClusterSpec) { s.Workers.SizingClass, s.Workers.CPU = "Medium", 2 }, "workers", "not both"},
		{"nfs cpu", func(s *events.ClusterSpec) { s.NFS.CPU = 2 }, "nfs", "sizingClass only"},

		// The SSH key.
		{"ssh ed25519 without comment", func(s *events.ClusterSpec) { s.SSHKey = strings.TrimSuffix(edKey, " tenant@acme") }, "", ""},
		{"ssh rsa 2048", func(s *events.ClusterSpec) { s.SSHKey = rsaKey + " me@laptop" }, "", ""},
		{"ssh ecdsa", func(s *events.ClusterSpec) { s.SSHKey = ecKey }, "", ""},
		{"ssh newline runcmd", func(s *events.ClusterSpec) { s.SSHKey = edKey + "\nruncmd:\n - touch /x" }, "sshKey", "line break at byte 92"},
		{"ssh carriage return", func(s *events.ClusterSpec) { s.SSHKey = edKey + "\r" }, "sshKey", "line break"},
		{"ssh yaml in comment", func(s *events.ClusterSpec) { s.SSHKey = edKey + "\", runcmd: [touch /x]" }, "", ""}, // a comment; the encoder quotes it
		{"ssh options", func(s *events.ClusterSpec) { s.SSHKey = `command="touch /x" ` + edKey }, "sshKey", "options"},
		{"ssh restrict option", func(s *events.ClusterSpec) { s.SSHKey = "restrict " + edKey }, "sshKey", "options"},
		{"ssh two keys", func(s *events.ClusterSpec) { s.SSHKey = edKey + " " + edKey }, "", ""}, // the second is the first's comment
		{"ssh not a key", func(s *events.ClusterSpec) { s.SSHKey = "ssh-ed25519 AAAA" }, "sshKey", "not a public key"},
		{"ssh shell", func(s *events.ClusterSpec) { s.SSHKey = "$(touch /x)" }, "sshKey", "not a public key"},
		{"ssh type mismatch", func(s *events.ClusterSpec) { s.SSHKey = "ssh-rsa" + strings.TrimPrefix(edKey, "ssh-ed25519") }, "sshKey", "not a public key"},
		{"ssh dsa", func(s *events.ClusterSpec) { s.SSHKey = dsaKey }, "sshKey", `type "ssh-dss" are not accepted`},
		{"ssh rsa 1024", func(s *events.ClusterSpec) { s.SSHKey = shortRSA }, "sshKey", "1024 bits"},
		{"ssh unicode comment", func(s *events.ClusterSpec) { s.SSHKey = edKey + "-josé" }, "sshKey", "not printable ASCII"},
		{"ssh leading space", func(s *events.ClusterSpec) { s.SSHKey = " " + edKey }, "sshKey", "white space"},
		{"ssh over-long", func(s *events.ClusterSpec) { s.SSHKey = edKey + " " + strings.Repeat("x", 4096) }, "sshKey", "at most 4096"},
		{"ssh nul", func(s *events.ClusterSpec) { s.SSHKey = edKey + "\x00" }, "sshKey", "control character"},

		// Pod and service blocks.
		{"pods shell", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.0.0.0/16; touch /x #"} }, "podCidrs[0]", "not a CIDR block"},
		{"pods substitution", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"$(touch /x)"} }, "podCidrs[0]", "not a CIDR block"},
		{"services newline", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"10.96.0.0/12\nruncmd:"} }, "serviceCidrs[0]", "not a CIDR block"},
		{"pods empty string", func(s *events.ClusterSpec) { s.PodCIDRs = []string{""} }, "podCidrs[0]", "not a CIDR block"},
		{"pods not masked", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.244.1.0/16"} }, "podCidrs[0]", "write 10.244.0.0/16"},
		{"pods address only", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.244.0.0"} }, "podCidrs[0]", "not a CIDR block"},
		{"pods leading zero", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"010.244.0.0/16"} }, "podCidrs[0]", "not a CIDR block"},
		{"pods public", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"8.8.0.0/16"} }, "podCidrs[0]", "not private"},
		{"pods straddle 172.16/12", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"172.0.0.0/9"} }, "podCidrs[0]", "not private"},
		{"services public", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"1.2.3.0/24"} }, "serviceCidrs[0]", "not private"},
		{"pods ipv6", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"fd00::/48"} }, "podCidrs[0]", "IPv4"},
		{"pods too small", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.244.0.0/24"} }, "podCidrs[0]", "between /8 and /17"},
		{"pods /17", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.244.0.0/17"} }, "", ""},
		{"pods /8", func(s *events.ClusterSpec) {
			s.PodCIDRs, s.ServiceCIDRs = []string{"10.0.0.0/8"}, []string{"192.168.0.0/16"}
		}, "", ""},
		{"services too big", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"10.0.0.0/11"} }, "serviceCidrs[0]", "between /12 and /24"},
		{"services too small", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"10.96.0.0/25"} }, "serviceCidrs[0]", "between /12 and /24"},
		{"two pod blocks", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"10.244.0.0/16", "10.245.0.0/16"} }, "podCidrs", "at most one"},
		{"two service blocks", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"10.96.0.0/16", "10.97.0.0/16"} }, "serviceCidrs", "at most one"},
		{"pods overlap services", func(s *events.ClusterSpec) {
			s.PodCIDRs, s.ServiceCIDRs = []string{"10.0.0.0/16"}, []string{"10.0.128.0/24"}
		}, "serviceCidrs[0]", "overlap"},
		{"pods overlap default services", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"100.64.0.0/16"} }, "podCidrs[0]", "100.64.0.0/13 (the default)"},
		{"services overlap default pods", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"100.100.0.0/16"} }, "serviceCidrs[0]", "100.96.0.0/11 (the default)"},
		{"defaults", func(s *events.ClusterSpec) {
			s.PodCIDRs, s.ServiceCIDRs = []string{DefaultPodCIDR}, []string{DefaultServiceCIDR}
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.edit(&s)
			err := ValidateSpec(s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Field != tt.field || rej.Code != events.CodeInvalidChange || !strings.Contains(rej.Message, tt.text) {
				t.Fatalf("got %#v, want a refusal of %s saying %q", err, tt.field, tt.text)
			}
			if strings.ContainsAny(rej.Message, "\n\r\x00\x1b") {
				t.Errorf("the message carries the hostile value raw: %q", rej.Message)
			}
			// The executor decides the same way.
			if _, err := Decide(&State{}, cmd("c1", events.CreateCluster{Spec: s})); !errors.As(err, &rej) || rej.Field != tt.field {
				t.Errorf("Decide: %v", err)
			}
		})
	}
}

func TestCSEName(t *testing.T) {
	for field, want := range map[string]string{
		"name": "metadata.name", "orgName": "metadata.orgName", "vdc": "metadata.virtualDataCenterName", "site": "metadata.site",
		"network": "spec.settings.ovdcNetwork", "sshKey": "spec.settings.sshKey", "template.name": "spec.distribution.templateName",
		"podCidrs": "spec.settings.network.pods.cidrBlocks", "podCidrs[0]": "spec.settings.network.pods.cidrBlocks[0]",
		"serviceCidrs[0]": "spec.settings.network.services.cidrBlocks[0]", "controlPlane.cpu": "spec.topology.controlPlane.cpu",
		"workers.memoryMb": "spec.topology.workers.memory", "workers.count": "spec.topology.workers.count", "nfs": "spec.topology.nfs",
		"nfs.sizingClass": "spec.topology.nfs.sizingClass", "cni.version": "spec.settings.cni.version",
	} {
		if got := CSEName(field); got != want {
			t.Errorf("CSEName(%q) = %q, want %q", field, got, want)
		}
	}
}

func TestValidateNetwork(t *testing.T) {
	nets := []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}, {Name: "other", CIDRs: []string{"100.96.0.0/24"}},
		{Name: "unknown-subnet"}}
	tests := []struct {
		name  string
		edit  func(*events.ClusterSpec)
		code  string
		field string
		text  string
	}{
		{"good", func(*events.ClusterSpec) {}, "", "", ""},
		{"no such network", func(s *events.ClusterSpec) { s.Network = "net2" }, events.CodeNetworkNotFound, "network", `has no network "net2" (it has: "net1", "other", "unknown-subnet")`},
		{"case matters", func(s *events.ClusterSpec) { s.Network = "NET1" }, events.CodeNetworkNotFound, "network", "no network"},
		{"pods overlap the node network", func(s *events.ClusterSpec) {
			s.PodCIDRs = []string{"10.0.0.0/8"}
			s.ServiceCIDRs = []string{"192.168.0.0/16"}
		},
			events.CodeInvalidChange, "podCidrs[0]", `overlaps network "net1"'s subnet 10.1.0.0/16`},
		{"services inside the node network", func(s *events.ClusterSpec) { s.ServiceCIDRs = []string{"10.1.128.0/24"} },
			events.CodeInvalidChange, "serviceCidrs[0]", "10.1.0.0/16"},
		{"default pods overlap the node network", func(s *events.ClusterSpec) { s.Network = "other" }, events.CodeInvalidChange, "podCidrs", "100.96.0.0/11 (the default)"},
		{"given pods clear of it", func(s *events.ClusterSpec) { s.Network = "other"; s.PodCIDRs = []string{"10.244.0.0/16"} }, "", "", ""},
		{"a network without a known subnet", func(s *events.ClusterSpec) { s.Network = "unknown-subnet" }, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.edit(&s)
			err := ValidateNetwork(s, nets)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Code != tt.code || rej.Field != tt.field || !strings.Contains(rej.Message, tt.text) {
				t.Fatalf("got %#v, want %s on %s saying %q", err, tt.code, tt.field, tt.text)
			}
		})
	}
	if err := ValidateNetwork(spec(), nil); err == nil {
		t.Fatal("a VDC known to have no network took a cluster")
	}
}

// An update is checked as a create is, but only where it changes something: a cluster made
// under older rules can still be scaled.
func TestChangeChecksValues(t *testing.T) {
	cur := spec()
	for _, tt := range []struct {
		name  string
		edit  func(*events.ClusterSpec)
		field string
		text  string
	}{
		{"hostile ssh key", func(s *events.ClusterSpec) { s.SSHKey = edKey + "\nruncmd:" }, "", `settings.sshKey found : ` + edKey + `\nruncmd: expected : `},
		{"hostile pod block", func(s *events.ClusterSpec) { s.PodCIDRs = []string{"$(touch /x)"} }, "", `settings.network.pods.cidrBlocks found : [$(touch /x)]`},
		{"cpu -1", func(s *events.ClusterSpec) { s.ControlPlane.CPU = -1 }, "", "topology.controlPlane.cpu found : -1"},
		{"too many workers", func(s *events.ClusterSpec) { s.Workers.Count = 101 }, "workers.count", "not 101"},
		{"hostile template", func(s *events.ClusterSpec) { s.Template.Name = "t\nruncmd:" }, "template.name", "control"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := spec()
			tt.edit(&d)
			_, err := Change(cur, d)
			var rej *Rejection
			if !errors.As(err, &rej) || rej.Field != tt.field || !strings.Contains(rej.Message, tt.text) {
				t.Fatalf("got %v, want a refusal of %q saying %q", err, tt.field, tt.text)
			}
			if strings.ContainsAny(rej.Message, "\n\r") {
				t.Errorf("the message carries a line break: %q", rej.Message)
			}
		})
	}

	legacy := spec()
	legacy.SSHKey, legacy.PodCIDRs = "ssh-rsa AAAA old", []string{"10.244.1.0/16"} // accepted before values were checked
	d := legacy
	d.Workers.Count = 5
	if p, err := Change(legacy, d); err != nil || p.Type() != events.TypeScaleWorkers {
		t.Fatalf("scaling a cluster made under older rules: %v %v", p, err)
	}
}

func TestUpgradeChecksTemplateName(t *testing.T) {
	_, err := Decide(created().s, cmd("u1", events.UpgradeTemplate{Template: events.TemplateRef{Name: "t\x00", Revision: 1}}))
	var rej *Rejection
	if !errors.As(err, &rej) || rej.Field != "template.name" {
		t.Fatalf("got %v", err)
	}
}
