package cse_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events/cse"
)

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdtjf9EcNxSlHq3C5k71f4WnUh67+tSuF2IAG7ZiLNO tenant@acme"

// CSE 3.0's v1.0 entity is checked as a v2.1 one is, and a bad value is named by its v1.0
// path, as the client wrote it.
func TestDecodeEntityV1ChecksValues(t *testing.T) {
	v1 := func(edit func(m map[string]any)) []byte {
		m := map[string]any{"api_version": "cse.vmware.com/v1.0", "kind": "native",
			"metadata": map[string]any{"cluster_name": "c1", "org_name": "acme", "ovdc_name": "vdc1"},
			"spec": map[string]any{
				"control_plane":   map[string]any{"count": 1, "sizing_class": "Large"},
				"workers":         map[string]any{"count": 2, "storage_profile": "Gold"},
				"k8_distribution": map[string]any{"template_name": "ubuntu-k8s-1.29", "template_revision": 1},
				"settings":        map[string]any{"network": "net1", "ssh_key": edKey, "rollback_on_failure": true},
			}}
		if edit != nil {
			edit(m)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	spec := func(m map[string]any, k string) map[string]any { return m["spec"].(map[string]any)[k].(map[string]any) }
	tests := []struct {
		name  string
		body  []byte
		path  string // "" when good
		minor int
		text  string
	}{
		{"good", v1(nil), "", 0, ""},
		{"an update giving only workers", []byte(`{"api_version":"cse.vmware.com/v1.0","metadata":{"cluster_name":"c1"},"spec":{"workers":{"count":3}}}`), "", 0, ""},
		{"ssh key with runcmd", v1(func(m map[string]any) { spec(m, "settings")["ssh_key"] = edKey + "\nruncmd:\n - touch /x" }),
			"spec.settings.ssh_key", cse.MinorDefault, "line break"},
		{"ssh key with options", v1(func(m map[string]any) { spec(m, "settings")["ssh_key"] = `command="touch /x" ` + edKey }),
			"spec.settings.ssh_key", cse.MinorDefault, "options"},
		{"cluster name", v1(func(m map[string]any) { m["metadata"].(map[string]any)["cluster_name"] = "9lives" }),
			"metadata.cluster_name", cse.MinorClusterNameInvalid, "Invalid cluster name"},
		{"org name", v1(func(m map[string]any) { m["metadata"].(map[string]any)["org_name"] = "acme\x00" }),
			"metadata.org_name", cse.MinorOrgNameInvalid, "control"},
		{"vdc name", v1(func(m map[string]any) { m["metadata"].(map[string]any)["ovdc_name"] = strings.Repeat("v", 200) }),
			"metadata.ovdc_name", cse.MinorOvdcNameInvalid, "200 characters"},
		{"network", v1(func(m map[string]any) { spec(m, "settings")["network"] = "net1\nruncmd:" }),
			"spec.settings.network", cse.MinorNetworkNameInvalid, "control"},
		{"negative workers", v1(func(m map[string]any) { spec(m, "workers")["count"] = -1 }),
			"spec.workers.count", cse.MinorNumWorkersInvalid, "not -1"},
		{"too many workers", v1(func(m map[string]any) { spec(m, "workers")["count"] = 101 }),
			"spec.workers.count", cse.MinorNumWorkersInvalid, "not 101"},
		{"three control planes", v1(func(m map[string]any) { spec(m, "control_plane")["count"] = 3 }),
			"spec.control_plane.count", cse.MinorDefault, "exactly one"},
		{"sizing class", v1(func(m map[string]any) { spec(m, "control_plane")["sizing_class"] = "L\u202e" }),
			"spec.control_plane.sizing_class", cse.MinorDefault, "U+202E"},
		{"storage profile", v1(func(m map[string]any) { spec(m, "workers")["storage_profile"] = "Gold\n" }),
			"spec.workers.storage_profile", cse.MinorDefault, "control"},
		{"template name", v1(func(m map[string]any) { spec(m, "k8_distribution")["template_name"] = "t$(x)\r" }),
			"spec.k8_distribution.template_name", cse.MinorDefault, "control"},
		{"template revision", v1(func(m map[string]any) { spec(m, "k8_distribution")["template_revision"] = -2 }),
			"spec.k8_distribution.template_revision", cse.MinorDefault, "not -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cse.DecodeEntityV1(tt.body)
			if tt.path == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fe := fieldError(t, err)
			if fe.Path != tt.path || fe.Minor != tt.minor || !strings.Contains(fe.Problem, tt.text) {
				t.Fatalf("got %q (minor %d), want %s (minor %d) saying %q", fe.Error(), fe.Minor, tt.path, tt.minor, tt.text)
			}
		})
	}
}

func TestV1Path(t *testing.T) {
	for in, want := range map[string]string{
		"metadata.name": "metadata.cluster_name", "spec.topology.workers.count": "spec.workers.count",
		"spec.topology.controlPlane.sizingClass": "spec.control_plane.sizing_class", "spec.topology.nfs.storageProfile": "spec.nfs.storage_profile",
		"spec.settings.sshKey": "spec.settings.ssh_key", "spec.distribution.templateName": "spec.k8_distribution.template_name",
		"spec.settings.network.pods.cidrBlocks[0]": "spec.settings.network.pods.cidrBlocks[0]", "spec.topology.workers": "spec.workers",
	} {
		if got := cse.V1Path(in); got != want {
			t.Errorf("V1Path(%q) = %q, want %q", in, got, want)
		}
	}
}
