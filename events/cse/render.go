package cse

import (
	"github.com/kaasproject/kaas/events"
)

// RDE states, as VCD names them.
const (
	StatePreCreated = "PRE_CREATED" // accepted, not yet started
	StateResolved   = "RESOLVED"
)

// View is everything a cluster response is made of.
type View struct {
	ClusterID string
	// EntityID is the URN of the cluster's VCD defined entity once VCD made it: the id
	// clients then see (status.uid too). Until then it is kaas's own URN of the cluster.
	EntityID   string
	OrgID      string
	Owner      string
	OwnerName  string // the owner's VCD user name, when kaas knows it
	Spec       events.ClusterSpec
	Template   events.Template // resolved template; empty until the executor found it
	Phase      events.Phase
	State      string
	VAppHref   string
	ControlIP  string
	Nodes      []NodeView
	Kaas       *KaasStatus
	TaskHref   string
	RolledBack bool
}

// NodeView is one node of a View.
type NodeView struct {
	Name string
	Role string
	IP   string
}

// Render returns the DefEntity for a cluster, in CSE 3.1's v2.1 shape.
func Render(v View) DefEntity {
	s := v.Spec
	ent := NativeEntity{
		Metadata:   Metadata{Name: s.Name, OrgName: s.OrgName, VirtualDataCenterName: s.VDC, Site: s.Site},
		Spec:       WireSpec(s),
		APIVersion: APIVersion21,
		Kind:       KindNative,
	}
	tmplName, tmplRev := s.Template.Name, s.Template.Revision
	id := EntityID(v.ClusterID)
	if v.EntityID != "" {
		id = v.EntityID
	}
	st := &Status{
		Phase: string(v.Phase), UID: id,
		CloudProperties: CloudProperties{Site: opt(s.Site), OrgName: s.OrgName, VirtualDataCenterName: s.VDC, OvdcNetworkName: s.Network,
			Distribution: Distribution{TemplateName: &tmplName, TemplateRevision: &tmplRev}, SSHKey: opt(s.SSHKey),
			RollbackOnFailure: s.RollbackOnFailure, Exposed: s.Expose},
		TaskHref: opt(v.TaskHref),
		CPI:      &Component{}, // kaas installs no cloud provider interface
	}
	if v.Kaas != nil {
		k := *v.Kaas
		k.ClusterID = v.ClusterID // kaas's id, whatever VCD calls the entity: it is found again by it
		st.Kaas = &k
	}
	ent.Spec.Settings.CNI = SettingsCNI(s, v.Template)
	if t := v.Template; t.KubernetesVersion != "" {
		st.Kubernetes = opt("upstream " + t.KubernetesVersion)
		if t.CNI.Name != "" {
			st.CNI = opt(t.CNI.Name + " " + t.CNI.Version)
		}
		st.OS = opt(t.OS)
		st.DockerVersion = opt(t.DockerVersion)
	}
	if len(v.Nodes) > 0 {
		n := &Nodes{Workers: []Node{}, NFS: []Node{}}
		for _, nv := range v.Nodes {
			pool := map[string]events.NodePool{events.RoleControlPlane: s.ControlPlane, events.RoleWorker: s.Workers, events.RoleNFS: s.NFS}[nv.Role]
			node := Node{Name: nv.Name, IP: nv.IP, SizingClass: opt(pool.SizingClass), StorageProfile: opt(pool.StorageProfile),
				CPU: optInt(pool.CPU), Memory: optInt(pool.MemoryMB)}
			switch nv.Role {
			case events.RoleControlPlane:
				n.ControlPlane = &node
			case events.RoleWorker:
				n.Workers = append(n.Workers, node)
			case events.RoleNFS:
				n.NFS = append(n.NFS, node)
			}
		}
		st.Nodes = n
	}
	ent.Status = st
	return DefEntity{
		Name: s.Name, Entity: ent, ID: id, EntityType: EntityType, ExternalID: opt(v.VAppHref),
		State: v.State, Owner: Ref{Name: v.OwnerName, ID: v.Owner}, Org: Ref{Name: s.OrgName, ID: v.OrgID},
	}
}

// SettingsCNI is spec.settings.cni as kaas shows it: the CNI the tenant asked for, else the
// one the cluster's template installs (what it runs), else CSE's object with null values.
func SettingsCNI(s events.ClusterSpec, t events.Template) *Component {
	c := s.CNI
	if c == (events.Component{}) {
		c = t.CNI
	}
	return &Component{Name: opt(c.Name), Version: opt(c.Version)}
}

// DropEchoedCNI forgets, in an update request, a spec.settings.cni that only repeats the
// template's CNI kaas showed for a cluster whose tenant asked for none: a client that
// applies the entity it read (CSE's way to change a cluster) asks for no CNI by it.
func DropEchoedCNI(e *NativeEntity, current events.ClusterSpec, t events.Template) {
	st := e.Spec.Settings
	if st == nil || st.CNI == nil || current.CNI != (events.Component{}) || t.CNI == (events.Component{}) {
		return
	}
	if deref(st.CNI.Name) == t.CNI.Name && deref(st.CNI.Version) == t.CNI.Version {
		st.CNI = nil
	}
}

// WireSpec renders kaas's spec in the v2.1 wire form: what the tenant asked for.
func WireSpec(s events.ClusterSpec) Spec {
	pool := func(p events.NodePool, cpuMem bool) *NodePool {
		out := &NodePool{Count: &p.Count, SizingClass: opt(p.SizingClass), StorageProfile: opt(p.StorageProfile)}
		if cpuMem {
			out.CPU, out.Memory = optInt(p.CPU), optInt(p.MemoryMB)
		}
		return out
	}
	rollback, expose := s.RollbackOnFailure, s.Expose
	name, rev := s.Template.Name, s.Template.Revision
	settings := &Settings{OvdcNetwork: opt(s.Network), SSHKey: opt(s.SSHKey), RollbackOnFailure: &rollback,
		Network: &Network{Expose: &expose, Pods: &CIDRs{CIDRBlocks: nonNil(s.PodCIDRs)}, Services: &CIDRs{CIDRBlocks: nonNil(s.ServiceCIDRs)}},
		CSI:     []CSIElement{},
		// CSE keeps {name, version} objects here even when empty; kaas installs no cloud
		// provider interface.
		CNI: &Component{Name: opt(s.CNI.Name), Version: opt(s.CNI.Version)},
		CPI: &Component{},
	}
	return Spec{
		Settings:     settings,
		Topology:     &Topology{ControlPlane: pool(s.ControlPlane, true), Workers: pool(s.Workers, true), NFS: pool(s.NFS, false)},
		Distribution: &Distribution{TemplateName: &name, TemplateRevision: &rev},
	}
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optInt(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
