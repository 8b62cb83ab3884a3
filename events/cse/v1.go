package cse

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
)

// CSE 3.0 on API 35 (VCD 10.2) spoke the v1.0 native cluster entity, snake_case and flatter
// than v2.x: metadata.cluster_name, spec.control_plane, spec.k8_distribution,
// spec.settings.network. kaas reads it on any API version and, on 35.0, answers in it.
const (
	EntityTypeV1 = "urn:vcloud:type:cse:nativeCluster:1.0.0"
	APIVersion10 = "cse.vmware.com/v1.0"
)

// EntityV1 is the v1.0 native cluster entity.
type EntityV1 struct {
	APIVersion string     `json:"api_version"`
	Kind       string     `json:"kind"`
	Metadata   MetadataV1 `json:"metadata"`
	Spec       SpecV1     `json:"spec"`
	Status     *StatusV1  `json:"status,omitempty"`
}

// MetadataV1 names the cluster and where it lives.
type MetadataV1 struct {
	ClusterName string `json:"cluster_name"`
	OrgName     string `json:"org_name"`
	OvdcName    string `json:"ovdc_name"`
}

// SpecV1 is what the tenant asks for.
type SpecV1 struct {
	ControlPlane   *PoolV1         `json:"control_plane"`
	Workers        *PoolV1         `json:"workers"`
	NFS            *PoolV1         `json:"nfs"`
	K8Distribution *DistributionV1 `json:"k8_distribution"`
	Settings       *SettingsV1     `json:"settings"`
	Expose         *bool           `json:"expose,omitempty"`
}

// PoolV1 is one pool's size and sizing.
type PoolV1 struct {
	Count          *int    `json:"count"`
	SizingClass    *string `json:"sizing_class"`
	StorageProfile *string `json:"storage_profile"`
}

// DistributionV1 names the template.
type DistributionV1 struct {
	TemplateName     *string `json:"template_name"`
	TemplateRevision *int    `json:"template_revision"`
}

// SettingsV1 are the cluster's settings.
type SettingsV1 struct {
	Network           *string `json:"network"`
	SSHKey            *string `json:"ssh_key"`
	RollbackOnFailure *bool   `json:"rollback_on_failure"`
}

// StatusV1 is what the cluster is, in v1.0's keys, with kaas's operation status.
type StatusV1 struct {
	Phase         string      `json:"phase"`
	CNI           *string     `json:"cni"`
	DockerVersion *string     `json:"docker_version"`
	Kubernetes    *string     `json:"kubernetes"`
	OS            *string     `json:"os"`
	TaskHref      *string     `json:"task_href"`
	Nodes         *NodesV1    `json:"nodes"`
	Kaas          *KaasStatus `json:"kaas,omitempty"`
}

// NodesV1 lists the cluster's VMs by role.
type NodesV1 struct {
	ControlPlane *NodeV1  `json:"control_plane"`
	Workers      []NodeV1 `json:"workers"`
	NFS          []NodeV1 `json:"nfs"`
}

// NodeV1 is one VM.
type NodeV1 struct {
	Name           string  `json:"name"`
	IP             string  `json:"ip"`
	SizingClass    *string `json:"sizing_class"`
	StorageProfile *string `json:"storage_profile"`
}

// DefEntityV1 is the defined-entity wrapper around a v1.0 entity.
type DefEntityV1 struct {
	Name       string   `json:"name"`
	Entity     EntityV1 `json:"entity"`
	ID         string   `json:"id"`
	EntityType string   `json:"entityType"`
	ExternalID *string  `json:"externalId"`
	State      string   `json:"state"`
	Owner      Ref      `json:"owner"`
	Org        Ref      `json:"org"`
}

// IsV1 reports whether a request body is a v1.0 entity: it has api_version or
// metadata.cluster_name, and no v2.x apiVersion.
func IsV1(body []byte) bool {
	var probe struct {
		APIVersion  *string `json:"apiVersion"`
		APIVersion1 *string `json:"api_version"`
		Metadata    struct {
			ClusterName *string `json:"cluster_name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	return probe.APIVersion == nil && (probe.APIVersion1 != nil || probe.Metadata.ClusterName != nil)
}

// DecodeEntityV1 decodes a v1.0 entity as strictly as DecodeEntity decodes v2.x, and
// returns it as the equivalent v2.1 entity. Errors are *FieldError, in v1.0's paths.
func DecodeEntityV1(body []byte) (NativeEntity, error) {
	var e EntityV1
	if len(body) > MaxBody {
		return NativeEntity{}, fieldErr("", MinorDefault, "the request body is larger than %d bytes", MaxBody)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(body) {
		return NativeEntity{}, fieldErr("", MinorDefault, "the body must be one JSON object")
	}
	sc := scanner{b: body}
	if path, problem := sc.check(reflect.TypeOf(e), ""); problem != "" {
		return NativeEntity{}, fieldErr(path, MinorDefault, "%s", problem)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return NativeEntity{}, fieldErr(te.Field, MinorDefault, "expected %s, got %s", kindName(te.Type), te.Value)
		}
		return NativeEntity{}, fieldErr("", MinorDefault, "the body cannot be read: %v", err)
	}
	switch {
	case e.APIVersion != "" && e.APIVersion != APIVersion10:
		return NativeEntity{}, fieldErr("api_version", MinorDefault, "Unsupported payload version: %s (use %s or %s)", e.APIVersion, APIVersion10, APIVersion21)
	case e.Kind != "" && e.Kind != KindNative:
		return NativeEntity{}, fieldErr("kind", MinorDefault, "kind %q is not supported: kaas provisions %q clusters", e.Kind, KindNative)
	case e.Metadata.ClusterName == "":
		return NativeEntity{}, fieldErr("metadata.cluster_name", MinorClusterNameMissing, "missing: name the cluster")
	}
	pool := func(p *PoolV1) *NodePool {
		if p == nil {
			return nil
		}
		return &NodePool{Count: p.Count, SizingClass: p.SizingClass, StorageProfile: p.StorageProfile}
	}
	out := NativeEntity{APIVersion: APIVersion21, Kind: KindNative,
		Metadata: Metadata{Name: e.Metadata.ClusterName, OrgName: e.Metadata.OrgName, VirtualDataCenterName: e.Metadata.OvdcName},
		Spec:     Spec{Topology: &Topology{ControlPlane: pool(e.Spec.ControlPlane), Workers: pool(e.Spec.Workers), NFS: pool(e.Spec.NFS)}}}
	if d := e.Spec.K8Distribution; d != nil {
		out.Spec.Distribution = &Distribution{TemplateName: d.TemplateName, TemplateRevision: d.TemplateRevision}
	}
	if s := e.Spec.Settings; s != nil {
		out.Spec.Settings = &Settings{OvdcNetwork: s.Network, SSHKey: s.SSHKey, RollbackOnFailure: s.RollbackOnFailure}
	}
	if err := checkV1(out); err != nil {
		return NativeEntity{}, err
	}
	return out, nil
}

// checkV1 checks the values a v1.0 entity gives as a create checks them (the rest is
// checked again once defaults and the current spec fill it in), and names a bad one by its
// v1.0 path, as the client wrote it.
func checkV1(e NativeEntity) error {
	s, err := merge(events.ClusterSpec{Name: e.Metadata.Name, OrgName: e.Metadata.OrgName, VDC: e.Metadata.VirtualDataCenterName}, e)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Path = V1Path(fe.Path)
		}
		return err
	}
	var rej *cluster.Rejection
	if err := cluster.ValidateValues(s); errors.As(err, &rej) {
		return fieldErr(V1Path(cluster.CSEName(rej.Field)), MinorInvalid(rej.Field), "%s", rej.Message)
	}
	return nil
}

// v1Names maps the v2.1 payload's path segments to v1.0's.
var v1Names = map[string]string{
	"metadata.name":                      "metadata.cluster_name",
	"metadata.orgName":                   "metadata.org_name",
	"metadata.virtualDataCenterName":     "metadata.ovdc_name",
	"spec.topology.controlPlane":         "spec.control_plane",
	"spec.topology.workers":              "spec.workers",
	"spec.topology.nfs":                  "spec.nfs",
	"sizingClass":                        "sizing_class",
	"storageProfile":                     "storage_profile",
	"spec.distribution.templateName":     "spec.k8_distribution.template_name",
	"spec.distribution.templateRevision": "spec.k8_distribution.template_revision",
	"spec.settings.ovdcNetwork":          "spec.settings.network",
	"spec.settings.sshKey":               "spec.settings.ssh_key",
	"spec.settings.rollbackOnFailure":    "spec.settings.rollback_on_failure",
}

// V1Path returns the v1.0 entity's path of a v2.1 payload path (spec.topology.workers.count
// is spec.workers.count); a path v1.0 has no counterpart for is returned as it is.
func V1Path(path string) string {
	if n, ok := v1Names[path]; ok {
		return n
	}
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return path
	}
	head, last := path[:i], path[i+1:]
	if n, ok := v1Names[last]; ok {
		last = n
	}
	if n, ok := v1Names[head]; ok {
		head = n
	}
	return head + "." + last
}

// ToV1 renders a cluster response in v1.0's shape, for API 35.0.
func ToV1(d DefEntity) DefEntityV1 {
	e := d.Entity
	pool := func(p *NodePool) *PoolV1 {
		if p == nil {
			return nil
		}
		return &PoolV1{Count: p.Count, SizingClass: p.SizingClass, StorageProfile: p.StorageProfile}
	}
	v := EntityV1{APIVersion: APIVersion10, Kind: e.Kind,
		Metadata: MetadataV1{ClusterName: e.Metadata.Name, OrgName: e.Metadata.OrgName, OvdcName: e.Metadata.VirtualDataCenterName}}
	if t := e.Spec.Topology; t != nil {
		v.Spec.ControlPlane, v.Spec.Workers, v.Spec.NFS = pool(t.ControlPlane), pool(t.Workers), pool(t.NFS)
	}
	if dist := e.Spec.Distribution; dist != nil {
		v.Spec.K8Distribution = &DistributionV1{TemplateName: dist.TemplateName, TemplateRevision: dist.TemplateRevision}
	}
	if s := e.Spec.Settings; s != nil {
		v.Spec.Settings = &SettingsV1{Network: s.OvdcNetwork, SSHKey: s.SSHKey, RollbackOnFailure: s.RollbackOnFailure}
	}
	if s := e.Status; s != nil {
		v.Status = &StatusV1{Phase: s.Phase, CNI: s.CNI, DockerVersion: s.DockerVersion, Kubernetes: s.Kubernetes, OS: s.OS,
			TaskHref: s.TaskHref, Kaas: s.Kaas}
		if n := s.Nodes; n != nil {
			node := func(x Node) NodeV1 {
				return NodeV1{Name: x.Name, IP: x.IP, SizingClass: x.SizingClass, StorageProfile: x.StorageProfile}
			}
			nv := &NodesV1{Workers: []NodeV1{}, NFS: []NodeV1{}}
			if n.ControlPlane != nil {
				cp := node(*n.ControlPlane)
				nv.ControlPlane = &cp
			}
			for _, w := range n.Workers {
				nv.Workers = append(nv.Workers, node(w))
			}
			for _, f := range n.NFS {
				nv.NFS = append(nv.NFS, node(f))
			}
			v.Status.Nodes = nv
		}
	}
	return DefEntityV1{Name: d.Name, Entity: v, ID: d.ID, EntityType: EntityTypeV1, ExternalID: d.ExternalID, State: d.State,
		Owner: d.Owner, Org: d.Org}
}
