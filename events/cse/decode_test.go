package cse_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
)

// validBody is a complete v2.1 create request, as CSE 3.1's CLI sends it.
const validBody = `{
  "apiVersion": "cse.vmware.com/v2.1",
  "kind": "native",
  "metadata": {"name": "c1", "orgName": "org1", "virtualDataCenterName": "vdc1", "site": "vcd.example.com"},
  "spec": {
    "distribution": {"templateName": "ubuntu-20.04_k8-1.21_weave-2.8.1", "templateRevision": 1},
    "topology": {
      "controlPlane": {"count": 1, "sizingClass": null, "storageProfile": null, "cpu": 2, "memory": 4096},
      "workers": {"count": 2, "sizingClass": "Medium", "storageProfile": "Silver", "cpu": null, "memory": null},
      "nfs": {"count": 0, "sizingClass": null, "storageProfile": null}
    },
    "settings": {
      "ovdcNetwork": "net1", "sshKey": "ssh-rsa AAAA", "rollbackOnFailure": false,
      "network": {"expose": false, "pods": {"cidrBlocks": ["100.96.0.0/11"]}, "services": {"cidrBlocks": ["100.64.0.0/13"]}},
      "cni": {"name": "antrea", "version": "1.14"},
      "cpi": {"name": "cpi for cloud director", "version": "1.1"},
      "csi": [{"name": "csi for cloud director", "version": "1.2", "default": true, "defaultK8sStorageClass": {
        "vcdStorageProfileName": "*", "k8sStorageClassName": "default-storage-class", "filesystem": "ext4",
        "useDeleteReclaimPolicy": true}}]
    }
  },
  "status": {"phase": "CREATE:IN_PROGRESS", "uid": "x", "cloudProperties": {"orgName": "org1"}}
}`

// validSpec is what validBody means.
func validSpec() events.ClusterSpec {
	return events.ClusterSpec{
		Name: "c1", OrgName: "org1", VDC: "vdc1", Site: "vcd.example.com",
		Template:     events.TemplateRef{Name: "ubuntu-20.04_k8-1.21_weave-2.8.1", Revision: 1},
		ControlPlane: events.NodePool{Count: 1, CPU: 2, MemoryMB: 4096},
		Workers:      events.NodePool{Count: 2, SizingClass: "Medium", StorageProfile: "Silver"},
		Network:      "net1", SSHKey: "ssh-rsa AAAA", RollbackOnFailure: false,
		PodCIDRs: []string{"100.96.0.0/11"}, ServiceCIDRs: []string{"100.64.0.0/13"},
		CNI: events.Component{Name: "antrea", Version: "1.14"},
	}
}

func fieldError(t *testing.T, err error) *cse.FieldError {
	t.Helper()
	var fe *cse.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *cse.FieldError", err, err)
	}
	return fe
}

func TestDecodeEntityValid(t *testing.T) {
	e, err := cse.DecodeEntity([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	if e.APIVersion != cse.APIVersion21 || e.Kind != cse.KindNative || e.Metadata.Name != "c1" {
		t.Errorf("header: %+v %+v", e.APIVersion, e.Metadata)
	}
	if w := e.Spec.Topology.Workers; w == nil || *w.Count != 2 || *w.SizingClass != "Medium" || w.CPU != nil {
		t.Errorf("workers: %+v", w)
	}
	if csi := e.Spec.Settings.CSI; len(csi) != 1 || *csi[0].DefaultK8sStorageClass.Filesystem != "ext4" {
		t.Errorf("csi: %+v", csi)
	}
	if e.Status == nil || e.Status.Phase != "CREATE:IN_PROGRESS" {
		t.Errorf("status: %+v", e.Status)
	}
}

func TestDecodeEntityRejects(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		path    string // the FieldError's path
		problem string // a substring of its problem
	}{
		{name: "empty", body: "", problem: "no body"},
		{name: "blank", body: " \n\t ", problem: "no body"},
		{name: "not JSON", body: "cluster=c1", problem: "not valid JSON"},
		{name: "truncated", body: `{"metadata":{"name":"c1"}`, problem: "not valid JSON"},
		{name: "array", body: `[{"apiVersion":"cse.vmware.com/v2.1"}]`, problem: "must be a JSON object, not an array"},
		{name: "string", body: `"c1"`, problem: "not a string"},
		{name: "number", body: `42`, problem: "not a number"},
		{name: "null", body: `null`, problem: "not null"},
		// encoding/json already refuses a second value, so this reads as invalid JSON.
		{name: "trailing object", body: `{"apiVersion":"cse.vmware.com/v2.1"} {"kind":"native"}`, problem: "after top-level value"},
		{name: "trailing garbage", body: `{"apiVersion":"cse.vmware.com/v2.1"}x`, problem: "after top-level value"},
		{name: "too large", body: `{"metadata":{"name":"` + strings.Repeat("a", cse.MaxBody) + `"}}`, problem: "larger than"},

		{name: "unknown top level", body: `{"apiversion":"cse.vmware.com/v2.1"}`, path: "apiversion", problem: "unknown field"},
		{name: "unknown in metadata", body: `{"metadata":{"name":"c1","ovdcName":"vdc1"}}`, path: "metadata.ovdcName", problem: "unknown field"},
		{name: "key case differs", body: `{"Metadata":{"name":"c1"}}`, path: "Metadata", problem: "unknown field"},
		{name: "unknown in topology", body: `{"spec":{"topology":{"wrokers":{"count":2}}}}`, path: "spec.topology.wrokers", problem: "unknown field"},
		{name: "unknown in pool", body: `{"spec":{"topology":{"workers":{"count":2,"memoryMb":1}}}}`, path: "spec.topology.workers.memoryMb", problem: "unknown field"},
		{name: "unknown in network", body: `{"spec":{"settings":{"network":{"pods":{"cidr":[]}}}}}`, path: "spec.settings.network.pods.cidr", problem: "unknown field"},
		{name: "unknown in csi element", body: `{"spec":{"settings":{"csi":[{"name":"a"},{"name":"b","defualt":true}]}}}`, path: "spec.settings.csi[1].defualt", problem: "unknown field"},
		{name: "unknown in csi storage class", body: `{"spec":{"settings":{"csi":[{"defaultK8sStorageClass":{"fs":"ext4"}}]}}}`, path: "spec.settings.csi[0].defaultK8sStorageClass.fs", problem: "unknown field"},
		{name: "unknown in status node", body: `{"status":{"nodes":{"workers":[{"name":"w"},{"name":"w2","ipAddress":"x"}]}}}`, path: "status.nodes.workers[1].ipAddress", problem: "unknown field"},
		{name: "first unknown in document order", body: `{"zeta":1,"alpha":2}`, path: "zeta", problem: "unknown field"},

		{name: "count as string", body: `{"spec":{"topology":{"workers":{"count":"2"}}}}`, path: "spec.topology.workers.count", problem: "expected an integer, got string"},
		{name: "count as fraction", body: `{"spec":{"topology":{"workers":{"count":2.5}}}}`, path: "spec.topology.workers.count", problem: "expected an integer, got number 2.5"},
		{name: "metadata as string", body: `{"metadata":"c1"}`, path: "metadata", problem: "expected an object, got string"},
		{name: "name as number", body: `{"metadata":{"name":7}}`, path: "metadata.name", problem: "expected a string, got number"},
		{name: "rollback as string", body: `{"spec":{"settings":{"rollbackOnFailure":"yes"}}}`, path: "spec.settings.rollbackOnFailure", problem: "expected a boolean, got string"},
		{name: "topology as array", body: `{"spec":{"topology":[1]}}`, path: "spec.topology", problem: "expected an object, got array"},
		{name: "csi as object", body: `{"spec":{"settings":{"csi":{"name":"a"}}}}`, path: "spec.settings.csi", problem: "expected an array, got object"},
		{name: "cidr blocks as string", body: `{"spec":{"settings":{"network":{"pods":{"cidrBlocks":"10.0.0.0/8"}}}}}`, path: "spec.settings.network.pods.cidrBlocks", problem: "expected an array, got string"},

		// A mistyped field inside an array element must name the element, as an unknown
		// field there does (see the report: encoding/json drops the index).
		{name: "mistyped csi element", body: `{"spec":{"settings":{"csi":[{"name":"a"},{"name":3}]}}}`, path: "spec.settings.csi[1].name", problem: "expected a string, got number"},
		{name: "mistyped csi storage class", body: `{"spec":{"settings":{"csi":[{"defaultK8sStorageClass":{"useDeleteReclaimPolicy":"yes"}}]}}}`, path: "spec.settings.csi[0].defaultK8sStorageClass.useDeleteReclaimPolicy", problem: "expected a boolean, got string"},

		// Strict decoding must not let a repeated key smuggle an unknown field past the
		// check, which would look only at the last copy of the key: a repeated key is refused.
		{name: "duplicate key hides unknown field", body: `{"metadata":{"name":"c1"},"metadata":{"nmae":"c1"}}`, path: "metadata", problem: "given twice"},
		{name: "misspelt key before its twin", body: `{"metadata":{"nmae":"c1"},"metadata":{"name":"c1"}}`, path: "metadata.nmae", problem: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cse.DecodeEntity([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted %.80s", tt.body)
			}
			fe := fieldError(t, err)
			if fe.Path != tt.path || !strings.Contains(fe.Problem, tt.problem) {
				t.Errorf("got path %q problem %q; want path %q problem containing %q", fe.Path, fe.Problem, tt.path, tt.problem)
			}
			if fe.Minor != cse.MinorDefault {
				t.Errorf("minor %d, want %d", fe.Minor, cse.MinorDefault)
			}
			if want := tt.path + ": "; tt.path != "" && !strings.HasPrefix(fe.Error(), want) {
				t.Errorf("Error() %q does not start with %q", fe.Error(), want)
			}
		})
	}
}

// entity decodes a body or fails the test.
func entity(t *testing.T, body string) cse.NativeEntity {
	t.Helper()
	e, err := cse.DecodeEntity([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return e
}

// minimal is the smallest create request ToSpec accepts.
const minimal = `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"name":"c1","orgName":"org1","virtualDataCenterName":"vdc1"},
  "spec":{"distribution":{"templateName":"t1","templateRevision":2},"settings":{"ovdcNetwork":"net1"}}}`

func TestToSpec(t *testing.T) {
	t.Run("full", func(t *testing.T) {
		got, err := cse.ToSpec(entity(t, validBody))
		if err != nil {
			t.Fatal(err)
		}
		if want := validSpec(); !reflect.DeepEqual(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		got, err := cse.ToSpec(entity(t, minimal))
		if err != nil {
			t.Fatal(err)
		}
		want := events.ClusterSpec{Name: "c1", OrgName: "org1", VDC: "vdc1", Network: "net1",
			Template: events.TemplateRef{Name: "t1", Revision: 2}, ControlPlane: events.NodePool{Count: 1}, RollbackOnFailure: true}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("null pools and settings keep the defaults", func(t *testing.T) {
		got, err := cse.ToSpec(entity(t, `{"apiVersion":"cse.vmware.com/v2.0","kind":"native",
		  "metadata":{"name":"c1","orgName":"org1","virtualDataCenterName":"vdc1"},
		  "spec":{"distribution":{"templateName":"t1","templateRevision":1},
		    "topology":{"controlPlane":null,"workers":{"count":null},"nfs":{}},
		    "settings":{"ovdcNetwork":"net1","rollbackOnFailure":null,"network":null,"cni":null}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got.ControlPlane.Count != 1 || got.Workers.Count != 0 || got.NFS.Count != 0 || !got.RollbackOnFailure {
			t.Errorf("defaults not applied: %+v", got)
		}
	})
	t.Run("v2.0 network.cni", func(t *testing.T) {
		got, err := cse.ToSpec(entity(t, `{"apiVersion":"cse.vmware.com/v2.0","metadata":{"name":"c1","orgName":"org1","virtualDataCenterName":"vdc1"},
		  "spec":{"distribution":{"templateName":"t1","templateRevision":1},
		    "settings":{"ovdcNetwork":"net1","network":{"cni":{"name":"antrea 1.14"}}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := (events.Component{Name: "antrea", Version: "1.14"}); got.CNI != want {
			t.Errorf("cni %+v, want %+v", got.CNI, want)
		}
	})
	t.Run("settings.cni wins over network.cni", func(t *testing.T) {
		got, err := cse.ToSpec(entity(t, `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"name":"c1","orgName":"org1","virtualDataCenterName":"vdc1"},
		  "spec":{"distribution":{"templateName":"t1","templateRevision":1},
		    "settings":{"ovdcNetwork":"net1","cni":{"name":"calico","version":"3.26"},"network":{"cni":{"name":"antrea 1.14"}}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := (events.Component{Name: "calico", Version: "3.26"}); got.CNI != want {
			t.Errorf("cni %+v, want %+v", got.CNI, want)
		}
	})
}

func TestToSpecRejects(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		mutate func(*cse.NativeEntity)
		path   string
		minor  int
	}{
		{"no apiVersion", func(e *cse.NativeEntity) { e.APIVersion = "" }, "apiVersion", cse.MinorDefault},
		{"v1.0 apiVersion", func(e *cse.NativeEntity) { e.APIVersion = "cse.vmware.com/v1.0" }, "apiVersion", cse.MinorDefault},
		{"TKGm kind", func(e *cse.NativeEntity) { e.Kind = "TKGm" }, "kind", cse.MinorDefault},
		{"no name", func(e *cse.NativeEntity) { e.Metadata.Name = "" }, "metadata.name", cse.MinorClusterNameMissing},
		{"no org", func(e *cse.NativeEntity) { e.Metadata.OrgName = "" }, "metadata.orgName", cse.MinorOrgNameMissing},
		{"no vdc", func(e *cse.NativeEntity) { e.Metadata.VirtualDataCenterName = "" }, "metadata.virtualDataCenterName", cse.MinorOvdcNameMissing},
		{"no settings", func(e *cse.NativeEntity) { e.Spec.Settings = nil }, "spec.settings.ovdcNetwork", cse.MinorNetworkNameMissing},
		{"null network", func(e *cse.NativeEntity) { e.Spec.Settings.OvdcNetwork = nil }, "spec.settings.ovdcNetwork", cse.MinorNetworkNameMissing},
		{"empty network", func(e *cse.NativeEntity) { e.Spec.Settings.OvdcNetwork = str("") }, "spec.settings.ovdcNetwork", cse.MinorNetworkNameMissing},
		{"no distribution", func(e *cse.NativeEntity) { e.Spec.Distribution = nil }, "spec.distribution.templateName", cse.MinorDefault},
		{"empty template name", func(e *cse.NativeEntity) { e.Spec.Distribution.TemplateName = str("") }, "spec.distribution.templateName", cse.MinorDefault},
		{"no template revision", func(e *cse.NativeEntity) { e.Spec.Distribution.TemplateRevision = nil }, "spec.distribution.templateRevision", cse.MinorDefault},
		{"sizing class and cpu", func(e *cse.NativeEntity) {
			cpu := 2
			e.Spec.Topology.Workers.CPU = &cpu
		}, "spec.topology.workers", cse.MinorDefault},
		{"sizing class and memory", func(e *cse.NativeEntity) {
			sc, mem := "Small", 2048
			e.Spec.Topology.ControlPlane.SizingClass, e.Spec.Topology.ControlPlane.CPU, e.Spec.Topology.ControlPlane.Memory = &sc, nil, &mem
		}, "spec.topology.controlPlane", cse.MinorDefault},
		{"negative workers", func(e *cse.NativeEntity) {
			n := -1
			e.Spec.Topology.Workers.Count = &n
		}, "spec.topology.workers.count", cse.MinorNumWorkersInvalid},
		{"negative nfs", func(e *cse.NativeEntity) {
			n := -3
			e.Spec.Topology.NFS.Count = &n
		}, "spec.topology.nfs.count", cse.MinorNumWorkersInvalid},
		{"zero cpu is not null", func(e *cse.NativeEntity) {
			zero := 0
			e.Spec.Topology.ControlPlane.SizingClass, e.Spec.Topology.ControlPlane.CPU = nil, &zero
		}, "spec.topology.controlPlane.cpu", cse.MinorDefault},
		{"zero memory is not null", func(e *cse.NativeEntity) {
			zero := 0
			e.Spec.Topology.Workers.SizingClass, e.Spec.Topology.Workers.CPU, e.Spec.Topology.Workers.Memory = nil, nil, &zero
		}, "spec.topology.workers.memory", cse.MinorDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entity(t, validBody)
			tt.mutate(&e)
			_, err := cse.ToSpec(e)
			if err == nil {
				t.Fatal("accepted")
			}
			fe := fieldError(t, err)
			if fe.Path != tt.path || fe.Minor != tt.minor {
				t.Errorf("got path %q minor %d (%v); want path %q minor %d", fe.Path, fe.Minor, err, tt.path, tt.minor)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	current := validSpec()
	tests := []struct {
		name string
		body string
		want func(*events.ClusterSpec)
	}{
		{"header only keeps everything", `{"apiVersion":"cse.vmware.com/v2.1"}`, func(*events.ClusterSpec) {}},
		{"explicit nulls keep everything", `{"apiVersion":"cse.vmware.com/v2.1","kind":"native","metadata":{},
		  "spec":{"distribution":{"templateName":null,"templateRevision":null},
		    "topology":{"controlPlane":null,"workers":{"count":null,"sizingClass":null,"storageProfile":null,"cpu":null,"memory":null},"nfs":null},
		    "settings":{"ovdcNetwork":null,"sshKey":null,"rollbackOnFailure":null,"cni":null,"cpi":null,"csi":null,
		      "network":{"expose":null,"pods":null,"services":{"cidrBlocks":null},"cni":null}}},"status":null}`,
			func(*events.ClusterSpec) {}},
		{"empty strings in metadata keep it", `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"name":"","orgName":"","virtualDataCenterName":""}}`,
			func(*events.ClusterSpec) {}},
		{"workers count", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":5}}}}`,
			func(s *events.ClusterSpec) { s.Workers.Count = 5 }},
		{"workers to zero", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":0}}}}`,
			func(s *events.ClusterSpec) { s.Workers.Count = 0 }},
		{"template", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"distribution":{"templateName":"t2","templateRevision":3}}}`,
			func(s *events.ClusterSpec) { s.Template = events.TemplateRef{Name: "t2", Revision: 3} }},
		{"nfs sizing", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"nfs":{"count":1,"storageProfile":"Gold"}}}}`,
			func(s *events.ClusterSpec) { s.NFS.Count, s.NFS.StorageProfile = 1, "Gold" }},
		{"settings", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"settings":{"ovdcNetwork":"net2","sshKey":"","rollbackOnFailure":true,
		  "network":{"expose":true,"pods":{"cidrBlocks":[]}},"cni":{"version":"1.15"}}}}`,
			func(s *events.ClusterSpec) {
				s.Network, s.SSHKey, s.RollbackOnFailure, s.Expose, s.PodCIDRs, s.CNI.Version = "net2", "", true, true, []string{}, "1.15"
			}},
		{"metadata", `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"name":"c2","orgName":"org2","virtualDataCenterName":"vdc2"}}`,
			func(s *events.ClusterSpec) { s.Name, s.OrgName, s.VDC = "c2", "org2", "vdc2" }},
		// The site is part of the spec (ToSpec reads it, Change diffs it as metadata.site):
		// a PUT that names another one must not be silently ignored (see the report).
		{"metadata site", `{"apiVersion":"cse.vmware.com/v2.1","metadata":{"site":"vcd2.example.com"}}`,
			func(s *events.ClusterSpec) { s.Site = "vcd2.example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := validSpec()
			got, err := cse.Merge(cur, entity(t, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			want := validSpec()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(cur, current) {
				t.Errorf("Merge changed its input: %+v", cur)
			}
		})
	}
	t.Run("result does not share the current spec's slices", func(t *testing.T) {
		cur := validSpec()
		got, err := cse.Merge(cur, entity(t, `{"apiVersion":"cse.vmware.com/v2.1"}`))
		if err != nil {
			t.Fatal(err)
		}
		got.PodCIDRs[0], got.ServiceCIDRs[0] = "changed", "changed"
		if cur.PodCIDRs[0] != "100.96.0.0/11" || cur.ServiceCIDRs[0] != "100.64.0.0/13" {
			t.Errorf("current spec aliased: %v %v", cur.PodCIDRs, cur.ServiceCIDRs)
		}
	})
	for _, tt := range []struct{ name, body, path string }{
		{"no apiVersion", `{"spec":{"topology":{"workers":{"count":5}}}}`, "apiVersion"},
		{"bad kind", `{"apiVersion":"cse.vmware.com/v2.1","kind":"TKG+"}`, "kind"},
		{"sizing and cpu", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"sizingClass":"Large","memory":4096}}}}`, "spec.topology.workers"},
		{"negative count", `{"apiVersion":"cse.vmware.com/v2.1","spec":{"topology":{"workers":{"count":-2}}}}`, "spec.topology.workers.count"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cse.Merge(validSpec(), entity(t, tt.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if fe := fieldError(t, err); fe.Path != tt.path {
				t.Errorf("path %q, want %q (%v)", fe.Path, tt.path, err)
			}
		})
	}
}

func TestParseClusterID(t *testing.T) {
	const id = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30"
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{cse.EntityIDPrefix + id, id, true},
		{id, id, true},
		{"", "", false},
		{"c1", "c1", false},
		{strings.ToUpper(id), strings.ToUpper(id), false},
		{"{" + id + "}", "{" + id + "}", false},
		{"urn:uuid:" + id, "urn:uuid:" + id, false},
		{"urn:vcloud:entity:cse:tkgCluster:" + id, "urn:vcloud:entity:cse:tkgCluster:" + id, false},
		{cse.EntityIDPrefix, "", false},
		{cse.EntityIDPrefix + id + "/x", id + "/x", false},
		{strings.ReplaceAll(id, "-", ""), strings.ReplaceAll(id, "-", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := cse.ParseClusterID(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseClusterID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if got, ok := cse.ParseClusterID(cse.EntityID(id)); !ok || got != id {
		t.Errorf("EntityID does not round-trip: %q %v", got, ok)
	}
}
