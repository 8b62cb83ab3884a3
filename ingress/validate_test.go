package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// createWith is createBody edited as a JSON object.
func createWith(edit func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(createBody("c1", "vdc1", 2)), &m); err != nil {
		panic(err)
	}
	edit(m)
	return string(must(json.Marshal(m)))
}

func at(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

// Every tenant value that would reach a node or VCD is checked for what it is: a hostile one
// is refused with CSE's 400 naming the field in the payload's terms, and nothing is appended.
func TestCreateRefusesHostileValues(t *testing.T) {
	settings := func(m map[string]any) map[string]any { return at(m, "spec", "settings") }
	pool := func(m map[string]any, name string) map[string]any { return at(m, "spec", "topology", name) }
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		minor int
		text  string
	}{
		{"ssh key with runcmd", func(m map[string]any) { settings(m)["sshKey"] = tenantKey + "\nruncmd:\n - touch /x" }, cse.MinorDefault,
			"spec.settings.sshKey: the SSH key must be one authorized_keys line in printable ASCII: it holds a line break"},
		{"ssh key with options", func(m map[string]any) { settings(m)["sshKey"] = `command="touch /x" ` + tenantKey }, cse.MinorDefault,
			"spec.settings.sshKey: the SSH key must not carry authorized_keys options"},
		{"ssh key not a key", func(m map[string]any) { settings(m)["sshKey"] = "$(touch /x)" }, cse.MinorDefault, "spec.settings.sshKey: "},
		{"pods with a command", func(m map[string]any) {
			at(settings(m), "network", "pods")["cidrBlocks"] = []string{"10.0.0.0/16; touch /x #"}
		},
			cse.MinorDefault, "spec.settings.network.pods.cidrBlocks[0]: \"10.0.0.0/16; touch /x #\" is not a CIDR block"},
		{"services with a substitution", func(m map[string]any) { at(settings(m), "network", "services")["cidrBlocks"] = []string{"$(touch /x)"} },
			cse.MinorDefault, "spec.settings.network.services.cidrBlocks[0]: "},
		{"public pods", func(m map[string]any) { at(settings(m), "network", "pods")["cidrBlocks"] = []string{"8.0.0.0/16"} },
			cse.MinorDefault, "spec.settings.network.pods.cidrBlocks[0]: the pod block 8.0.0.0/16 is not private"},
		{"two pod blocks", func(m map[string]any) {
			at(settings(m), "network", "pods")["cidrBlocks"] = []string{"10.244.0.0/16", "10.245.0.0/16"}
		}, cse.MinorDefault, "spec.settings.network.pods.cidrBlocks: give at most one pod block"},
		{"pods overlap default services", func(m map[string]any) { at(settings(m), "network", "pods")["cidrBlocks"] = []string{"100.64.0.0/16"} },
			cse.MinorDefault, "spec.settings.network.pods.cidrBlocks[0]: the pod block 100.64.0.0/16 and the service block 100.64.0.0/13 (the default) overlap"},
		{"control plane cpu -1", func(m map[string]any) { pool(m, "controlPlane")["cpu"] = -1 }, cse.MinorDefault,
			"spec.topology.controlPlane.cpu: cpu must be between 2 and 128, not -1"},
		{"control plane memory 2^40", func(m map[string]any) { pool(m, "controlPlane")["memory"] = 1 << 40 }, cse.MinorDefault,
			"spec.topology.controlPlane.memory: memory must be between 2048 and 1048576 MB, not 1099511627776"},
		{"worker cpu 1000", func(m map[string]any) { pool(m, "workers")["cpu"], pool(m, "workers")["sizingClass"] = 1000, nil }, cse.MinorDefault,
			"spec.topology.workers.cpu: "},
		{"sizing class with a newline", func(m map[string]any) { pool(m, "workers")["sizingClass"] = "Medium\nruncmd:" }, cse.MinorDefault,
			`spec.topology.workers.sizingClass: sizing class "Medium\nruncmd:" holds a control`},
		{"storage profile too long", func(m map[string]any) { pool(m, "workers")["storageProfile"] = strings.Repeat("s", 129) }, cse.MinorDefault,
			"spec.topology.workers.storageProfile: storage profile is 129 characters long"},
		{"network with a newline", func(m map[string]any) { settings(m)["ovdcNetwork"] = "net1\nruncmd:" }, cse.MinorNetworkNameInvalid,
			"spec.settings.ovdcNetwork: "},
		{"org with a control character", func(m map[string]any) { at(m, "metadata")["orgName"] = "acme\x1b[2J" }, cse.MinorOrgNameInvalid,
			"metadata.orgName: "},
		{"vdc too long", func(m map[string]any) { at(m, "metadata")["virtualDataCenterName"] = strings.Repeat("v", 300) }, cse.MinorOvdcNameInvalid,
			"metadata.virtualDataCenterName: "},
		{"unicode cluster name", func(m map[string]any) { at(m, "metadata")["name"] = "clüster" }, cse.MinorClusterNameInvalid,
			"metadata.name: Invalid cluster name 'clüster'"},
		{"template with a right-to-left override", func(m map[string]any) { at(m, "spec", "distribution")["templateName"] = "ubuntu\u202e" },
			cse.MinorDefault, "spec.distribution.templateName: template name \"ubuntu\\u202e\" holds a control or invisible character (U+202E)"},
		{"cni version with a command", func(m map[string]any) { at(settings(m), "cni")["version"] = "1.14; touch /x" }, cse.MinorDefault,
			"spec.settings.cni.version: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			wantError(t, h.do(http.MethodPost, base+"/clusters", createWith(tt.edit)), 400, tt.minor, tt.text)
			if h.cmds.calls != 0 || len(h.cmds.commands()) != 0 {
				t.Errorf("a refused create reached the command stream (%d calls)", h.cmds.calls)
			}
		})
	}
}

// CSE 3.0's v1.0 entity is checked the same way, and the field is named as v1.0 names it.
func TestCreateV1RefusesHostileValues(t *testing.T) {
	body := func(settings string) string {
		return `{"api_version":"","kind":"native","metadata":{"cluster_name":"old","org_name":"acme","ovdc_name":"vdc1"},
		  "spec":{"control_plane":{"count":1},"workers":{"count":2},
		    "k8_distribution":{"template_name":"ubuntu-k8s-1.29","template_revision":1},"settings":` + settings + `}}`
	}
	for _, tt := range []struct {
		settings string
		minor    int
		text     string
	}{
		{`{"network":"net1","ssh_key":` + string(must(json.Marshal(tenantKey+"\nruncmd:"))) + `}`, cse.MinorDefault, "spec.settings.ssh_key: "},
		{`{"network":"net1\u0000"}`, cse.MinorNetworkNameInvalid, "spec.settings.network: "},
	} {
		h := newHarness(t)
		wantError(t, h.do(http.MethodPost, base+"/clusters", body(tt.settings)), 400, tt.minor, tt.text)
		if h.cmds.calls != 0 {
			t.Errorf("a refused v1.0 create reached the command stream")
		}
	}
	h := newHarness(t)
	if rec := h.do(http.MethodPost, base+"/clusters", body(`{"network":"net1","ssh_key":"`+tenantKey+`"}`)); rec.Code != http.StatusAccepted {
		t.Fatalf("good v1.0 create: %d %s", rec.Code, rec.Body)
	}
}

// An update cannot slip a hostile value through either.
func TestUpdateRefusesHostileValues(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tt := range []struct {
		name string
		edit func(e *cse.NativeEntity)
		text string
	}{
		{"ssh key", func(e *cse.NativeEntity) { e.Spec.Settings.SSHKey = str(tenantKey + "\nruncmd:") }, `settings.sshKey found : ` + tenantKey + `\nruncmd: expected : `},
		{"pod block", func(e *cse.NativeEntity) { e.Spec.Settings.Network.Pods.CIDRBlocks = []string{"$(touch /x)"} }, "settings.network.pods.cidrBlocks found : [$(touch /x)]"},
		{"template", func(e *cse.NativeEntity) { e.Spec.Distribution.TemplateName = str("ubuntu\nruncmd:") }, "spec.distribution.templateName: template name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id, _ := h.running("c1")
			rec := h.do(http.MethodPut, clusterPath(id), h.entityWith(id, tt.edit))
			wantError(t, rec, 400, cse.MinorDefault, tt.text)
			if n := len(h.cmds.commands()); n != 1 {
				t.Errorf("%d commands appended by a refused PUT", n-1)
			}
		})
	}
}

// With the org VDC's networks known from VCD, a create naming a network the VDC lacks, or
// with a pod or service block over the nodes' subnet, is refused before anything is
// appended; a VDC whose networks kaas does not know is not checked.
func TestCreateChecksNetwork(t *testing.T) {
	sync := func(h *harness, nets []events.Network) {
		h.views.ApplyEvent(3, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
			Payload: events.CloudSynced{Templates: []events.Template{{Name: "ubuntu-k8s-1.29", Revision: 1, KubernetesVersion: "v1.29.8"}},
				VDCs: []events.VDC{{ID: "urn:vcloud:vdc:vdc1", Name: "vdc1", OrgName: "acme", OrgID: orgA},
					{ID: "urn:vcloud:vdc:vdc2", Name: "vdc2", OrgName: "acme", OrgID: orgA}},
				Networks: []events.VDCNetworks{{VDC: "urn:vcloud:vdc:vdc1", Networks: nets}}}})
	}
	pods := func(blocks ...string) func(m map[string]any) {
		return func(m map[string]any) { at(m, "spec", "settings", "network", "pods")["cidrBlocks"] = blocks }
	}
	tests := []struct {
		name   string
		nets   []events.Network
		body   string
		status int
		minor  int
		text   string
	}{
		{"the network is there", []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}}, createBody("c1", "vdc1", 2), 202, 0, ""},
		{"no such network", []events.Network{{Name: "net2", CIDRs: []string{"10.1.0.0/16"}}}, createBody("c1", "vdc1", 2), 400,
			cse.MinorNetworkNameInvalid, `spec.settings.ovdcNetwork: org VDC 'vdc1' has no network "net1" (it has: "net2")`},
		{"a VDC without networks", []events.Network{}, createBody("c1", "vdc1", 2), 400, cse.MinorNetworkNameInvalid, "spec.settings.ovdcNetwork: "},
		{"pods over the nodes' subnet", []events.Network{{Name: "net1", CIDRs: []string{"10.1.0.0/16"}}}, createWith(pods("10.0.0.0/8")), 400,
			cse.MinorDefault, `spec.settings.network.pods.cidrBlocks[0]: the block 10.0.0.0/8 overlaps network "net1"'s subnet 10.1.0.0/16`},
		{"default pods over the nodes' subnet", []events.Network{{Name: "net1", CIDRs: []string{"100.100.0.0/24"}}}, createBody("c1", "vdc1", 2), 400,
			cse.MinorDefault, "spec.settings.network.pods.cidrBlocks: the block 100.96.0.0/11 (the default) overlaps"},
		{"other pods clear of it", []events.Network{{Name: "net1", CIDRs: []string{"100.100.0.0/24"}}}, createWith(pods("10.244.0.0/16")), 202, 0, ""},
		{"a VDC whose networks are unknown", []events.Network{{Name: "net2"}}, createBody("c1", "vdc2", 2), 202, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			sync(h, tt.nets)
			rec := h.do(http.MethodPost, base+"/clusters", tt.body)
			if tt.status == 202 {
				if rec.Code != 202 {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, tt.status, tt.minor, tt.text)
			if h.cmds.calls != 0 {
				t.Errorf("a refused create reached the command stream")
			}
		})
	}
}

// An upgrade the executor could only fail is refused before anything is appended: to a
// template the catalog does not hold or has deprecated, or to Kubernetes kubeadm cannot
// move the cluster to; through the whole-entity PUT and the upgrade action alike.
func TestUpgradeChecksTemplate(t *testing.T) {
	templates := []events.Template{
		{Name: "ubuntu-k8s-1.28", Revision: 1, KubernetesVersion: "v1.28.9"},
		{Name: "ubuntu-k8s-1.29", Revision: 1, KubernetesVersion: "v1.29.3"},
		{Name: "ubuntu-k8s-1.29", Revision: 2, KubernetesVersion: "v1.29.3"},
		{Name: "ubuntu-k8s-1.30", Revision: 1, KubernetesVersion: "v1.30.1"},
		{Name: "ubuntu-k8s-1.30-old", Revision: 1, KubernetesVersion: "v1.30.0", Deprecated: true},
		{Name: "ubuntu-k8s-1.31", Revision: 1, KubernetesVersion: "v1.31.0"},
	}
	tests := []struct {
		name, template string
		revision       int
		status         int
		text           string
	}{
		{"not in the catalog", "no-such-template", 1, 400, "spec.distribution.templateName: template no-such-template revision 1 is not in the provider's catalog"},
		{"a revision not in the catalog", "ubuntu-k8s-1.30", 7, 400, "is not in the provider's catalog"},
		{"deprecated", "ubuntu-k8s-1.30-old", 1, 400, "is deprecated"},
		{"backwards", "ubuntu-k8s-1.28", 1, 400, "upgrades go forward only"},
		{"two minors at once", "ubuntu-k8s-1.31", 1, 400, "one minor version at a time"},
		{"the same Kubernetes", "ubuntu-k8s-1.29", 2, 400, "the target is not newer"},
		{"the next minor", "ubuntu-k8s-1.30", 1, 202, ""},
	}
	for _, via := range []string{"PUT", "action"} {
		for _, tt := range tests {
			t.Run(via+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				id, _ := h.running("c1")
				h.views.ApplyEvent(100, "", events.Envelope{ID: "sync", ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0,
					Payload: events.CloudSynced{Templates: templates}})
				var rec *httptest.ResponseRecorder
				if via == "PUT" {
					rec = h.do(http.MethodPut, clusterPath(id), fmt.Sprintf(`{"apiVersion":"cse.vmware.com/v2.1","spec":{"distribution":{"templateName":%q,"templateRevision":%d}}}`, tt.template, tt.revision))
				} else {
					rec = h.do(http.MethodPost, clusterPath(id)+"/action/upgrade", fmt.Sprintf(`{"template_name":%q,"template_revision":%d}`, tt.template, tt.revision))
				}
				if tt.status == http.StatusAccepted {
					if rec.Code != http.StatusAccepted {
						t.Fatalf("%d %s", rec.Code, rec.Body)
					}
					return
				}
				wantError(t, rec, tt.status, cse.MinorDefault, tt.text)
				if n := len(h.cmds.commands()); n != 1 {
					t.Errorf("%d commands appended by a refused upgrade", n-1)
				}
			})
		}
	}
}

// With what the org VDC offers known from VCD, a create whose pools name a sizing class or
// storage profile the VDC does not offer is refused with CSE's 400 naming the field, before
// anything is appended; so is a scale-up whose new workers would need one. A VDC whose
// offers kaas does not know is not checked.
func TestCreateChecksOffers(t *testing.T) {
	offers := func(h *harness, seq uint64, policies []events.SizingPolicy, profiles []events.StorageProfile) {
		p := events.CloudSynced{Templates: []events.Template{{Name: "ubuntu-k8s-1.29", Revision: 1, KubernetesVersion: "v1.29.8"}},
			VDCs: []events.VDC{{ID: "urn:vcloud:vdc:vdc1", Name: "vdc1", OrgName: "acme", OrgID: orgA},
				{ID: "urn:vcloud:vdc:vdc2", Name: "vdc2", OrgName: "acme", OrgID: orgA}}}
		if policies != nil {
			p.SizingPolicies = []events.VDCSizingPolicies{{VDC: "urn:vcloud:vdc:vdc1", Policies: policies}}
		}
		if profiles != nil {
			p.StorageProfiles = []events.VDCStorageProfiles{{VDC: "urn:vcloud:vdc:vdc1", Profiles: profiles}}
		}
		h.views.ApplyEvent(seq, "", events.Envelope{ID: fmt.Sprintf("sync-%d", seq), ClusterID: events.CloudID, Type: events.TypeCloudSynced, Time: t0, Payload: p})
	}
	pool := func(name, key, value string) func(m map[string]any) {
		return func(m map[string]any) { at(m, "spec", "topology", name)[key] = value }
	}
	withNFS := func(m map[string]any) {
		at(m, "spec", "topology", "nfs")["count"] = 1
		at(m, "spec", "topology", "nfs")["sizingClass"] = "Huge"
	}
	medium := []events.SizingPolicy{{Name: "System Default"}, {Name: "Medium", CPU: 2, MemoryMB: 4096}}
	gold := []events.StorageProfile{{Name: "Silver", Default: true}, {Name: "Gold"}}
	tests := []struct {
		name     string
		policies []events.SizingPolicy
		profiles []events.StorageProfile
		body     string
		text     string // "" for accepted
	}{
		{"offered", medium, gold, createWith(pool("controlPlane", "storageProfile", "Gold")), ""},
		{"no such sizing class", []events.SizingPolicy{{Name: "System Default"}, {Name: "Small"}}, gold, createBody("c1", "vdc1", 2),
			`spec.topology.workers.sizingClass: org VDC 'vdc1' has no VM sizing policy "Medium" (it has: "System Default", "Small")`},
		{"sizing classes compare exactly", []events.SizingPolicy{{Name: "medium"}}, nil, createBody("c1", "vdc1", 2),
			`spec.topology.workers.sizingClass: org VDC 'vdc1' has no VM sizing policy "Medium"`},
		{"no such storage profile", medium, gold, createWith(pool("controlPlane", "storageProfile", "Platinum")),
			`spec.topology.controlPlane.storageProfile: org VDC 'vdc1' has no storage profile "Platinum" (it has: "Silver", "Gold")`},
		{"the NFS pool too", medium, gold, createWith(withNFS), `spec.topology.nfs.sizingClass: org VDC 'vdc1' has no VM sizing policy "Huge"`},
		{"a pool without nodes makes no VM", medium, gold, createWith(pool("nfs", "sizingClass", "Huge")), ""},
		{"unknown offers are not checked", nil, nil, createWith(pool("controlPlane", "storageProfile", "Platinum")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			offers(h, 3, tt.policies, tt.profiles)
			rec := h.do(http.MethodPost, base+"/clusters", tt.body)
			if tt.text == "" {
				if rec.Code != 202 {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, 400, cse.MinorDefault, tt.text)
			if h.cmds.calls != 0 {
				t.Errorf("a refused create reached the command stream")
			}
		})
	}

	t.Run("scale up", func(t *testing.T) {
		h := newHarness(t)
		id, _ := h.running("c1")
		offers(h, 100, []events.SizingPolicy{{Name: "System Default"}}, nil) // Medium is no longer assigned
		calls := h.cmds.calls
		up := h.entityWith(id, func(e *cse.NativeEntity) { n := 3; e.Spec.Topology.Workers.Count = &n })
		wantError(t, h.do(http.MethodPut, clusterPath(id), up), 400, cse.MinorDefault,
			`spec.topology.workers.sizingClass: org VDC 'vdc1' has no VM sizing policy "Medium"`)
		if h.cmds.calls != calls {
			t.Errorf("a refused scale-up reached the command stream")
		}
		down := h.entityWith(id, func(e *cse.NativeEntity) { n := 1; e.Spec.Topology.Workers.Count = &n })
		if rec := h.do(http.MethodPut, clusterPath(id), down); rec.Code != 202 {
			t.Fatalf("scale down: %d %s", rec.Code, rec.Body)
		}
	})
}
