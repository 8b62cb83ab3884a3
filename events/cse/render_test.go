package cse_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	renderClusterID = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30"
	renderOpID      = "5e0b7c2d-8a4f-4d1e-b6c3-9f2a1e7d4c58"
	renderOrg       = "urn:vcloud:org:7f1a2b3c-0000-4000-8000-000000000001"
	renderUser      = "urn:vcloud:user:7f1a2b3c-0000-4000-8000-000000000002"
)

// golden compares v, as indented JSON, with testdata/<name>.golden.json; -update rewrites it.
func golden(t *testing.T, name string, v any) []byte {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./events/cse -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (run with -update if intended):\n got: %s\nwant: %s", path, got, want)
	}
	return got
}

func TestRenderPendingCreate(t *testing.T) {
	// What the ingress answers to an accepted create: built from the request alone.
	spec := validSpec()
	href := "/api/cse/3.0/operations/" + renderOpID
	ent := cse.Render(cse.View{ClusterID: renderClusterID, OrgID: renderOrg, Owner: renderUser, Spec: spec,
		Phase: events.PhaseCreateInProgress, State: cse.StatePreCreated, TaskHref: href,
		Kaas: &cse.KaasStatus{OperationID: renderOpID, OperationHref: href}})
	b := golden(t, "render_pending_create", ent)
	checkRendered(t, b, spec)

	st := ent.Entity.Status
	if st.Nodes != nil || st.Kubernetes != nil || st.CNI != nil || st.OS != nil {
		t.Errorf("a pending create has no nodes or template facts yet: %+v", st)
	}
	if ent.ExternalID != nil {
		t.Errorf("externalId %q before the vApp exists", *ent.ExternalID)
	}
}

func TestRenderRunning(t *testing.T) {
	spec := validSpec()
	spec.NFS = events.NodePool{Count: 1, StorageProfile: "Gold"}
	v := cse.View{
		ClusterID: renderClusterID, OrgID: renderOrg, Owner: renderUser, OwnerName: "alice", Spec: spec,
		Template: events.Template{Name: spec.Template.Name, Revision: 1, KubernetesVersion: "1.21.2", OS: "ubuntu-20.04",
			CNI: events.Component{Name: "weave", Version: "2.8.1"}, DockerVersion: "20.10.7"},
		Phase: events.PhaseCreateSucceeded, State: cse.StateResolved,
		VAppHref: "https://vcd.example.com/api/vApp/vapp-0d6f2b8a", ControlIP: "10.0.0.10",
		Nodes: []cse.NodeView{
			{Name: "mstr-ab12", Role: events.RoleControlPlane, IP: "10.0.0.10"},
			{Name: "node-cd34", Role: events.RoleWorker, IP: "10.0.0.11"},
			{Name: "node-ef56", Role: events.RoleWorker, IP: "10.0.0.12"},
			{Name: "nfsd-gh78", Role: events.RoleNFS, IP: "10.0.0.20"},
		},
		TaskHref: "/api/cse/3.0/operations/" + renderOpID,
		Kaas:     &cse.KaasStatus{OperationID: renderOpID, OperationHref: "/api/cse/3.0/operations/" + renderOpID, Percent: 100},
	}
	ent := cse.Render(v)
	b := golden(t, "render_running", ent)
	checkRendered(t, b, spec)

	n := ent.Entity.Status.Nodes
	if n == nil || n.ControlPlane == nil || n.ControlPlane.Name != "mstr-ab12" || len(n.Workers) != 2 || len(n.NFS) != 1 {
		t.Fatalf("nodes: %+v", n)
	}
	if n.ControlPlane.CPU == nil || *n.ControlPlane.CPU != 2 || n.Workers[0].SizingClass == nil || *n.Workers[0].SizingClass != "Medium" {
		t.Errorf("node sizing does not come from its pool: %+v %+v", n.ControlPlane, n.Workers[0])
	}
	if st := ent.Entity.Status; st.Kubernetes == nil || *st.Kubernetes != "upstream 1.21.2" || st.CNI == nil || *st.CNI != "weave 2.8.1" {
		t.Errorf("template facts: %+v", st)
	}
}

// checkRendered checks what every rendered DefEntity must satisfy: CSE's wrapper, no
// secrets, and an entity that a client can send back (GET, edit, PUT) through the strict
// decoder without changing anything.
func checkRendered(t *testing.T, b []byte, spec events.ClusterSpec) {
	t.Helper()
	var ent cse.DefEntity
	if err := json.Unmarshal(b, &ent); err != nil {
		t.Fatal(err)
	}
	if ent.ID != cse.EntityIDPrefix+renderClusterID || ent.EntityType != cse.EntityType || ent.Entity.Status.UID != ent.ID {
		t.Errorf("ids: id %q type %q uid %q", ent.ID, ent.EntityType, ent.Entity.Status.UID)
	}
	if ent.Entity.Status.Private != nil {
		t.Error("a cluster response carries status.private")
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	entityJSON, err := json.Marshal(raw["entity"])
	if err != nil {
		t.Fatal(err)
	}
	back, err := cse.DecodeEntity(entityJSON)
	if err != nil {
		t.Fatalf("the rendered entity does not decode: %v", err)
	}
	merged, err := cse.Merge(spec, back)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSpec(merged, spec) {
		t.Errorf("applying the rendered entity changes the spec:\n got %+v\nwant %+v", merged, spec)
	}
	again, err := cse.ToSpec(back)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSpec(again, spec) {
		t.Errorf("creating from the rendered entity gives another spec:\n got %+v\nwant %+v", again, spec)
	}
}

// sameSpec compares specs as they are stored: in events' JSON, where a nil and an empty
// list are the same (omitempty).
func sameSpec(a, b events.ClusterSpec) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// spec.settings.cni and cpi are objects, as CSE keeps them: the client's {"name": null,
// "version": null} is taken as asking for nothing, the CNI shown is the tenant's or else the
// template's, and a client that sends back the template's CNI kaas showed asks for nothing.
func TestSettingsCNIAndCPI(t *testing.T) {
	antrea := events.Template{Name: "t", Revision: 1, KubernetesVersion: "1.30.4", CNI: events.Component{Name: "antrea", Version: "1.15.1"}}
	bare := validSpec()
	bare.CNI = events.Component{}
	calico := validSpec()
	calico.CNI = events.Component{Name: "calico", Version: "3.28"}
	type component struct{ Name, Version *string }
	for _, tt := range []struct {
		name       string
		spec       events.ClusterSpec
		tmpl       events.Template
		cni        string // name/version shown, "-" for null
		echo       string // settings.cni a client sends back
		echoKept   bool   // the echo is a request for a CNI
		wantMerged events.Component
	}{
		{"pending create, none asked", bare, events.Template{}, "-/-", `{"name":null,"version":null}`, true, events.Component{}},
		{"template known, none asked", bare, antrea, "antrea/1.15.1", `{"name":"antrea","version":"1.15.1"}`, false, events.Component{}},
		{"another CNI than the template's is asked for", bare, antrea, "antrea/1.15.1", `{"name":"antrea","version":"1.14.0"}`, true,
			events.Component{Name: "antrea", Version: "1.14.0"}},
		{"the tenant's own", calico, antrea, "calico/3.28", `{"name":"calico","version":"3.28"}`, true, calico.CNI},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ent := cse.Render(cse.View{ClusterID: renderClusterID, Spec: tt.spec, Template: tt.tmpl, Phase: events.PhaseCreateSucceeded})
			b, err := json.Marshal(ent.Entity)
			if err != nil {
				t.Fatal(err)
			}
			var wire struct {
				Spec struct {
					Settings struct{ CNI, CPI *component }
				}
				Status struct{ CPI *component }
			}
			if err := json.Unmarshal(b, &wire); err != nil {
				t.Fatal(err)
			}
			show := func(c *component) string {
				if c == nil {
					return "null object"
				}
				s := func(p *string) string {
					if p == nil {
						return "-"
					}
					return *p
				}
				return s(c.Name) + "/" + s(c.Version)
			}
			if got := show(wire.Spec.Settings.CNI); got != tt.cni {
				t.Errorf("spec.settings.cni %s, want %s", got, tt.cni)
			}
			if got := show(wire.Spec.Settings.CPI); got != "-/-" {
				t.Errorf("spec.settings.cpi %s, want an object of nulls", got)
			}
			if got := show(wire.Status.CPI); got != "-/-" {
				t.Errorf("status.cpi %s, want an object of nulls", got)
			}
			// A client sends back the entity with its own settings.cni.
			body := `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"name":"c1"},"spec":{"settings":{"cni":` + tt.echo +
				`,"cpi":{"name":null,"version":null}}}}`
			e, err := cse.DecodeEntity([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			cse.DropEchoedCNI(&e, tt.spec, tt.tmpl)
			if kept := e.Spec.Settings.CNI != nil; kept != tt.echoKept {
				t.Errorf("echo kept %v, want %v", kept, tt.echoKept)
			}
			merged, err := cse.Merge(tt.spec, e)
			if err != nil {
				t.Fatal(err)
			}
			if merged.CNI != tt.wantMerged {
				t.Errorf("CNI after the update %+v, want %+v", merged.CNI, tt.wantMerged)
			}
		})
	}
}
