package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// samples holds one filled-in payload of every registered type. The golden test fails when a
// type is registered without a sample, so no type escapes the wire-format check.
var samples = map[string]Payload{
	TypeCreateCluster:      CreateCluster{Spec: sampleSpec()},
	TypeScaleWorkers:       ScaleWorkers{Workers: 5},
	TypeUpgradeTemplate:    UpgradeTemplate{Template: TemplateRef{Name: "ubuntu-22.04_k8-1.30_antrea-1.15", Revision: 2}},
	TypeDeleteCluster:      DeleteCluster{},
	TypeForceDeleteCluster: ForceDeleteCluster{},
	TypeDeleteNFSNode:      DeleteNFSNode{Node: "nfsd-k2pq"},
	TypeSyncCloud:          SyncCloud{},
	TypeSetVDCRuntimes:     SetVDCRuntimes{VDC: VDC{ID: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6", Name: "acme-vdc", OrgName: "acme", OrgID: "urn:vcloud:org:44b7e5ce-534a-5de7-b715-a9fa779b42ac"}, Runtimes: []string{RuntimeNative}},
	TypeSetServiceState:    SetServiceState{Enabled: false},
	TypeSetClusterACL:      SetClusterACL{Entries: []ACLEntry{{MemberID: "urn:vcloud:user:7d3c52b5-3b9f-4ff0-8a0e-5d4f6f1f2a11", Username: "bob", AccessLevel: AccessReadOnly}}},

	TypeClusterCreationStarted: ClusterCreationStarted{Spec: sampleSpec()},
	TypeTemplateResolved:       TemplateResolved{Template: sampleTemplate()},
	TypeVAppCreated:            VAppCreated{VAppID: "urn:vcloud:vapp:2f7c9a52-0b8e-4f0c-9d44-0e5a9e8c1b21", Name: "prod-1"},
	TypeNodeCreated:            NodeCreated{Name: "mstr-7k2q", Role: RoleControlPlane, Ordinal: 0, VMID: "urn:vcloud:vm:6a1d8f3e-5b7c-4e2a-8f9d-1c3b5a7e9d20"},
	TypeNodeStarted:            NodeStarted{Name: "mstr-7k2q"},
	TypeControlPlaneInitialized: ControlPlaneInitialized{Node: "mstr-7k2q", IP: "10.0.0.10", Endpoint: "https://10.0.0.10:6443",
		KubeconfigRef: "cluster.0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30.kubeconfig", JoinCommandRef: "cluster.0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30.join"},
	TypeNodeJoined:     NodeJoined{Name: "node-p3xz", IP: "10.0.0.11"},
	TypeNodeReady:      NodeReady{Name: "nfsd-b8w2", IP: "10.0.0.12"},
	TypeClusterCreated: ClusterCreated{},
	TypeStepRetrying: StepRetrying{Step: "CreateVApp", Attempt: 2, NotUntil: time.Date(2026, 11, 23, 12, 0, 5, 0, time.UTC),
		Failure: Failure{Code: CodeVCDError, Message: "VCD is busy", VCDCode: "BUSY_ENTITY", VCDMessage: "The entity is busy completing an operation."}},
	TypeOperationFailed: OperationFailed{Rollback: true, Failure: Failure{Code: CodeTemplateNotFound, Step: "ResolveTemplate",
		Message: `template "ubuntu-20.04_k8-1.21" revision 9 is not in any catalog of org "acme"`}},
	TypeNodeDeleted:            NodeDeleted{Name: "node-p3xz"},
	TypeVAppDeleted:            VAppDeleted{VAppID: "urn:vcloud:vapp:2f7c9a52-0b8e-4f0c-9d44-0e5a9e8c1b21"},
	TypeOperationRolledBack:    OperationRolledBack{},
	TypeWorkersScaleStarted:    WorkersScaleStarted{From: 2, To: 5},
	TypeClusterScaled:          ClusterScaled{Workers: 5},
	TypeClusterUpgradeStarted:  ClusterUpgradeStarted{From: TemplateRef{Name: "ubuntu-22.04_k8-1.29_antrea-1.14", Revision: 1}, To: TemplateRef{Name: "ubuntu-22.04_k8-1.30_antrea-1.15", Revision: 2}},
	TypeNodeUpgradeRequested:   NodeUpgradeRequested{Name: "mstr-7k2q", KubernetesVersion: "v1.30.4"},
	TypeNodeUpgraded:           NodeUpgraded{Name: "mstr-7k2q", KubernetesVersion: "v1.30.4"},
	TypeClusterUpgraded:        ClusterUpgraded{Template: sampleTemplate()},
	TypeClusterDeletionStarted: ClusterDeletionStarted{Force: true, Superseded: "5e0b7c2d-8a4f-4d1e-b6c3-9f2a1e7d4c58"},
	TypeClusterDeleted:         ClusterDeleted{},
	TypeCommandRejected:        CommandRejected{CommandType: TypeScaleWorkers, Failure: Failure{Code: CodeBusy, Message: "cluster is busy with UPGRADE:IN_PROGRESS"}},
	TypeNFSNodeDeletionStarted: NFSNodeDeletionStarted{Node: "nfsd-k2pq"},
	TypeNFSNodeRemoved:         NFSNodeRemoved{Node: "nfsd-k2pq"},
	TypeCloudSynced: CloudSynced{Templates: []Template{{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1, Catalog: "kaas-templates",
		KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04", CNI: Component{Name: "antrea", Version: "1.14.0"}, Description: "Kubernetes v1.29.8 on ubuntu-22.04"}},
		VDCs: []VDC{VDC{ID: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6", Name: "acme-vdc", OrgName: "acme", OrgID: "urn:vcloud:org:44b7e5ce-534a-5de7-b715-a9fa779b42ac"}},
		Networks: []VDCNetworks{{VDC: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
			Networks: []Network{{Name: "acme-net", CIDRs: []string{"10.1.0.0/16"}}, {Name: "acme-isolated"}}}},
		Users: []User{{ID: "urn:vcloud:user:3c2b1a09-8f7e-4d6c-b5a4-938271605f4e", Name: "alice", OrgID: "urn:vcloud:org:44b7e5ce-534a-5de7-b715-a9fa779b42ac"},
			{ID: "urn:vcloud:user:9d1c7c3e-8a4f-4d1e-b6c3-00000000aaaa", Name: "administrator"}},
		StorageProfiles: []VDCStorageProfiles{{VDC: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
			Profiles: []StorageProfile{{Name: "Silver", Default: true}, {Name: "Gold"}}}},
		SizingPolicies: []VDCSizingPolicies{{VDC: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
			Policies: []SizingPolicy{{Name: "System Default", ID: "urn:vcloud:vdcComputePolicy:0b6b2a3e-3c1d-4f6e-9a8b-7c5d4e3f2a10"},
				{Name: "small", ID: "urn:vcloud:vdcComputePolicy:9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", CPU: 2, MemoryMB: 2048}}}}},
	TypeVDCRuntimesChanged:  VDCRuntimesChanged{VDC: VDC{ID: "urn:vcloud:vdc:5c1f3e8a-1b2c-4d5e-8f90-a1b2c3d4e5f6", Name: "acme-vdc", OrgName: "acme", OrgID: "urn:vcloud:org:44b7e5ce-534a-5de7-b715-a9fa779b42ac"}, Runtimes: []string{RuntimeNative}},
	TypeServiceStateChanged: ServiceStateChanged{Enabled: true},
	TypeClusterACLChanged:   ClusterACLChanged{Entries: []ACLEntry{{MemberID: "urn:vcloud:user:7d3c52b5-3b9f-4ff0-8a0e-5d4f6f1f2a11", Username: "bob", AccessLevel: AccessReadWrite}}},

	TypeBuildTemplate: BuildTemplate{Recipe: sampleRecipe(), Revision: 2},
	TypeImportTemplate: ImportTemplate{Template: sampleImported(), OVA: "/srv/ova/tkgm-1.30.ova",
		SHA256: "5f2b1c0e9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"},
	TypeDeprecateTemplate:       DeprecateTemplate{Template: TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}, Deprecated: true},
	TypeDeleteTemplate:          DeleteTemplate{Template: TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}},
	TypeTemplateBuildStarted:    TemplateBuildStarted{Recipe: sampleRecipe(), Revision: 2, CatalogItem: "ubuntu-22.04_k8s-1.30_antrea-1.15_rev2"},
	TypeBaseImageReady:          BaseImageReady{Name: "ubuntu-22.04-server-cloudimg-amd64", VAppTemplateID: "urn:vcloud:vapptemplate:2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d", Uploaded: true},
	TypeBuildVAppCreated:        BuildVAppCreated{VAppID: "urn:vcloud:vapp:7c1e3a5b-9d2f-4e6a-8b0c-1d3e5f7a9b2c", Name: "kaas-build-3f2a1c0e"},
	TypeBuildVMCreated:          BuildVMCreated{Name: "build", VMID: "urn:vcloud:vm:8d2f4b6a-0c1e-4f3a-9b5d-7e9f1a3c5b2d"},
	TypeBuildVMStarted:          BuildVMStarted{},
	TypeTemplateBuildProgressed: TemplateBuildProgressed{Step: "pull-images"},
	TypeBuildCustomized:         BuildCustomized{},
	TypeBuildVMStopped:          BuildVMStopped{},
	TypeTemplateCaptured: TemplateCaptured{CatalogItemID: "urn:vcloud:catalogitem:1e3c5a7b-9d0f-4a2c-8e6b-0d2f4a6c8e1b",
		VAppTemplateID: "urn:vcloud:vapptemplate:6b8d0f2a-4c6e-4a1b-9d3f-5e7a9c1b3d5f"},
	TypeBuildVAppDeleted:        BuildVAppDeleted{},
	TypeTemplateBuilt:           TemplateBuilt{Template: sampleBuilt()},
	TypeTemplateImportStarted:   TemplateImportStarted{Template: sampleImported(), OVA: "/srv/ova/tkgm-1.30.ova", CatalogItem: "ubuntu-22.04_k8s-1.30_tkgm_rev1"},
	TypeTemplateImported:        TemplateImported{Template: sampleImported()},
	TypeTemplateDeprecated:      TemplateDeprecated{Template: TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}, Deprecated: true},
	TypeTemplateDeletionStarted: TemplateDeletionStarted{Template: TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}},
	TypeTemplateDeleted:         TemplateDeleted{Template: TemplateRef{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1}},
}

func sampleRecipe() Recipe {
	return Recipe{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Description: "Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1",
		OS: "ubuntu-22.04", Base: BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64",
			OVA: "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		CNI:     RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules:   TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"},
		Scripts: []RecipeScript{{Name: "motd", Run: "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"}}}
}

func sampleBuilt() Template {
	return Template{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 2, Catalog: "kaas-templates",
		CatalogItemID: "urn:vcloud:catalogitem:1e3c5a7b-9d0f-4a2c-8e6b-0d2f4a6c8e1b", KubernetesVersion: "v1.30.4",
		OS: "ubuntu-22.04", CNI: Component{Name: "antrea", Version: "1.15.1"}, Description: "Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1",
		ContainerdVersion: "1.7.20", Rules: TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"}, Source: SourceBuilt}
}

func sampleImported() Template {
	return Template{Name: "ubuntu-22.04_k8s-1.30_tkgm", Revision: 1, Catalog: "kaas-templates", KubernetesVersion: "v1.30.2",
		OS: "ubuntu-22.04", CNI: Component{Name: "antrea", Version: "1.15.1"}, Rules: TemplateRules{MemoryMB: 8192}, Source: SourceImported}
}

func sampleSpec() ClusterSpec {
	return ClusterSpec{
		Name: "prod-1", OrgName: "acme", VDC: "acme-vdc", Site: "https://vcd.example.com",
		Template:     TemplateRef{Name: "ubuntu-22.04_k8-1.29_antrea-1.14", Revision: 1},
		ControlPlane: NodePool{Count: 1, SizingClass: "Large"},
		Workers:      NodePool{Count: 2, StorageProfile: "Gold", CPU: 4, MemoryMB: 8192},
		Network:      "acme-net", SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkaas tenant@acme",
		RollbackOnFailure: true, PodCIDRs: []string{"100.96.0.0/11"}, ServiceCIDRs: []string{"100.64.0.0/13"},
		CNI: Component{Name: "antrea", Version: "1.14.0"},
	}
}

func sampleTemplate() Template {
	return Template{Name: "ubuntu-22.04_k8-1.29_antrea-1.14", Revision: 1, Catalog: "kaas-templates",
		CatalogItemID: "urn:vcloud:catalogitem:4b2e6d8f-1a3c-4e5b-9d7f-8c0a2e4b6d19", KubernetesVersion: "v1.29.8",
		OS: "ubuntu-22.04", CNI: Component{Name: "antrea", Version: "1.14.0"}}
}

func sampleEnvelope(p Payload) Envelope {
	e := Envelope{
		ID: "9f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f", ClusterID: "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30",
		OrgID: "urn:vcloud:org:7e3d1c2b-5a4f-4e6d-9c8b-1a2b3c4d5e6f", Actor: "urn:vcloud:user:3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
		Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), CorrelationID: "6f0c2a1e-9b8d-4c7f-a6e5-d4c3b2a19087", Payload: p,
	}
	if KindOf(p.Type()) == KindEvent {
		e.CausationID = "5e0b7c2d-8a4f-4d1e-b6c3-9f2a1e7d4c58"
		e.PrevHash = "3b1f6a0e8d2c4b7a9e5f1d3c7b9a2e4f6d8c0b1a3e5f7d9c2b4a6e8f0d1c3b5a"
	}
	return e
}

// TestGolden pins the JSON of every command and event type: a change to a payload struct
// shows up as a diff here, and must come with a new schema version and an upcaster.
func TestGolden(t *testing.T) {
	all := append(TypeNames(KindCommand), TypeNames(KindEvent)...)
	if len(samples) != len(all) {
		t.Errorf("samples has %d entries, the type table %d: add a sample for every type", len(samples), len(all))
	}
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			p, ok := samples[name]
			if !ok {
				t.Fatalf("no sample for %s", name)
			}
			got, err := Marshal(sampleEnvelope(p))
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./events -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s changed:\n got: %s\nwant: %s", name, pretty.Bytes(), want)
			}
			// The golden file decodes back to the same envelope.
			back, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			wantEnv := sampleEnvelope(p)
			wantEnv.Type, wantEnv.SchemaVersion = name, SchemaVersion(name)
			if !reflect.DeepEqual(back, wantEnv) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, wantEnv)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := Marshal(sampleEnvelope(NodeStarted{Name: "n"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
		wantMsg string
	}{
		{"not json", `{"id":`, ErrMalformed, "malformed envelope"},
		{"no type", `{"id":"a","clusterId":"b","data":{}}`, ErrMalformed, "no type"},
		{"unknown type", `{"id":"a","type":"ClusterExploded","clusterId":"b","data":{}}`, ErrUnknownType, `"ClusterExploded"`},
		{"no id", `{"type":"NodeStarted","clusterId":"b","data":{}}`, ErrMalformed, "lacks an id"},
		{"no cluster", `{"id":"a","type":"NodeStarted","data":{}}`, ErrMalformed, "lacks an id or a cluster id"},
		{"future version", `{"id":"a","type":"NodeStarted","schemaVersion":9,"clusterId":"b","data":{}}`, ErrMalformed, "newer than this kaas understands"},
		{"mistyped data", `{"id":"a","type":"NodeStarted","clusterId":"b","data":{"name":7}}`, ErrMalformed, "NodeStarted data"},
		{"good", string(good), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.in))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

type unregistered struct{}

func (unregistered) Type() string { return "Unregistered" }

// impostor claims a registered name with the wrong Go type.
type impostor struct{}

func (impostor) Type() string { return TypeClusterCreated }

func TestMarshalRejects(t *testing.T) {
	for _, p := range []Payload{nil, unregistered{}, impostor{}} {
		if _, err := Marshal(sampleEnvelope2(p)); err == nil {
			t.Errorf("Marshal(%T) succeeded", p)
		}
	}
	if _, err := Marshal(Envelope{Payload: ClusterDeleted{}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("envelope without ids: %v", err)
	}
}

func sampleEnvelope2(p Payload) Envelope {
	return Envelope{ID: "a", ClusterID: "b", Payload: p}
}

func TestUpcastChain(t *testing.T) {
	// A private table proves the mechanism: version 1 had "vm", version 2 renamed it "vmId".
	rename := func(data json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		m["vmId"] = m["vm"]
		delete(m, "vm")
		return json.Marshal(m)
	}
	saved := types
	t.Cleanup(func() { types = saved })
	types = buildTypes(reg(KindEvent, 2, NodeCreated{}, rename))
	env, err := Unmarshal([]byte(`{"id":"a","type":"NodeCreated","schemaVersion":1,"clusterId":"b","data":{"name":"n","vm":"urn:vcloud:vm:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Payload.(NodeCreated).VMID; got != "urn:vcloud:vm:1" || env.SchemaVersion != 2 {
		t.Fatalf("upcast: vmId=%q version=%d", got, env.SchemaVersion)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, p := range samples {
		b, _ := Marshal(sampleEnvelope(p))
		f.Add(b)
	}
	for _, info := range types { // every field filled in, some strings escaped
		p := reflect.New(info.goType).Elem()
		(&filler{t: f}).fill(p)
		b, _ := Marshal(sampleEnvelope(p.Interface().(Payload)))
		f.Add(b)
	}
	f.Add([]byte(`{"type":"NodeCreated","data":null}`))
	f.Add([]byte(`{"id":"x","type":"StepRetrying","schemaVersion":1,"clusterId":"c","time":"2024-02-29T23:59:59.5Z","data":{"step":"a\"b","attempt":-0,"failure":{"code":"\u00e9"},"notUntil":"2026-11-23T12:00:00+01:00"}}`))
	f.Add([]byte(`{"id":"x","type":"CloudSynced","schemaVersion":1,"clusterId":"c","data":{"templates":[],"vdcs":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the fast path takes, the general one reads the same way.
		if fast, ok := unmarshalFast(b); ok {
			general, err := unmarshal(b)
			if err != nil {
				t.Fatalf("the fast path took what the general one refuses (%v): %q", err, b)
			}
			if !reflect.DeepEqual(fast, general) {
				t.Fatalf("%q:\n fast    %+v\n general %+v", b, fast, general)
			}
		}
		env, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Anything accepted must encode again and decode to the same thing.
		again, err := Marshal(env)
		if err != nil {
			t.Fatalf("accepted envelope does not re-encode: %v", err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
	})
}

// A CloudSynced written before kaas read networks and users decodes, both ways, to a cloud
// whose networks and users are unknown (nil), and one with them keeps them.
func TestCloudSyncedWithoutNetworks(t *testing.T) {
	old := []byte(`{"id":"x","type":"CloudSynced","schemaVersion":1,"clusterId":"c","time":"2026-11-23T12:00:00Z",` +
		`"data":{"templates":[],"vdcs":[{"id":"urn:vcloud:vdc:1","name":"acme-vdc","orgName":"acme"}]}}`)
	agree(t, "old CloudSynced", old)
	env, err := Unmarshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if c := env.Payload.(CloudSynced); c.Networks != nil || c.Users != nil || len(c.VDCs) != 1 {
		t.Fatalf("old record read as %+v", c)
	}
	b, err := Marshal(sampleEnvelope(samples[TypeCloudSynced]))
	if err != nil {
		t.Fatal(err)
	}
	env, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Payload.(CloudSynced).Networks; !reflect.DeepEqual(got, samples[TypeCloudSynced].(CloudSynced).Networks) {
		t.Fatalf("networks read back as %+v", got)
	}
	if got := env.Payload.(CloudSynced).Users; !reflect.DeepEqual(got, samples[TypeCloudSynced].(CloudSynced).Users) {
		t.Fatalf("users read back as %+v", got)
	}
}

func TestDeriveIDStable(t *testing.T) {
	a, b := DeriveID("cluster", "req-1"), DeriveID("cluster", "req-1")
	if a != b || !ValidClusterID(a) || a == DeriveID("command", "req-1") {
		t.Fatalf("DeriveID not stable or not distinct: %s %s", a, b)
	}
}
