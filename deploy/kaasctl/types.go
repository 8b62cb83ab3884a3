package kaasctl

import (
	"strconv"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events/cse"
)

// These are the parts of CSE's answers kaasctl reads. They are its own, not the server's
// types, so that kaasctl reads any CSE-compatible server and ignores what it does not
// show; what it prints as JSON or YAML is always the answer's own bytes. Routes only kaas
// has (history, audit, replay) answer in kaas's own types, which kaasctl shares.

// Cluster is VCD's defined-entity wrapper of a native cluster.
type Cluster struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	State  string        `json:"state"`
	Owner  Ref           `json:"owner"`
	Org    Ref           `json:"org"`
	Entity ClusterEntity `json:"entity"`
}

// Ref names a VCD object.
type Ref struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// ClusterEntity is the v2.x native cluster entity.
type ClusterEntity struct {
	Metadata struct {
		Name                  string `json:"name"`
		OrgName               string `json:"orgName"`
		VirtualDataCenterName string `json:"virtualDataCenterName"`
		Site                  string `json:"site"`
	} `json:"metadata"`
	Spec struct {
		Distribution *struct {
			TemplateName     string `json:"templateName"`
			TemplateRevision int    `json:"templateRevision"`
		} `json:"distribution"`
		Topology *struct {
			ControlPlane *Pool `json:"controlPlane"`
			Workers      *Pool `json:"workers"`
			NFS          *Pool `json:"nfs"`
		} `json:"topology"`
		Settings *struct {
			OvdcNetwork       string `json:"ovdcNetwork"`
			RollbackOnFailure *bool  `json:"rollbackOnFailure"`
		} `json:"settings"`
	} `json:"spec"`
	Status *ClusterStatus `json:"status"`
}

// Pool is one node pool's size.
type Pool struct {
	Count       *int   `json:"count"`
	SizingClass string `json:"sizingClass"`
}

// ClusterStatus is what the cluster is.
type ClusterStatus struct {
	Phase      string `json:"phase"`
	Kubernetes string `json:"kubernetes"`
	CNI        string `json:"cni"`
	OS         string `json:"os"`
	Nodes      *struct {
		ControlPlane *Node  `json:"controlPlane"`
		Workers      []Node `json:"workers"`
		NFS          []Node `json:"nfs"`
	} `json:"nodes"`
	Kaas *KaasStatus `json:"kaas"`
}

// Node is one VM of a cluster.
type Node struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// KaasStatus is kaas's addition to CSE's status: the operation in progress or the last one.
type KaasStatus struct {
	OperationID   string     `json:"operationId"`
	OperationHref string     `json:"operationHref"`
	Step          string     `json:"step"`
	Percent       int        `json:"percent"`
	Error         *KaasError `json:"error"`
	RolledBack    bool       `json:"rolledBack"`
	Retrying      *KaasError `json:"retrying"`
}

// KaasError is why an operation failed (or is being retried).
type KaasError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Step       string `json:"step"`
	VCDCode    string `json:"vcdCode"`
	VCDMessage string `json:"vcdMessage"`
}

func (e *KaasError) String() string {
	if e == nil {
		return ""
	}
	s := e.Message
	if e.Code != "" {
		s = e.Code + ": " + s
	}
	if e.Step != "" {
		s += " (at step " + e.Step + ")"
	}
	if e.VCDCode != "" || e.VCDMessage != "" {
		s += "; VCD said " + strings.TrimSpace(e.VCDCode+" "+e.VCDMessage)
	}
	return s
}

func (c *Cluster) phase() string {
	if c.Entity.Status == nil {
		return ""
	}
	return c.Entity.Status.Phase
}

func (c *Cluster) template() string {
	d := c.Entity.Spec.Distribution
	if d == nil {
		return ""
	}
	return d.TemplateName + " r" + strconv.Itoa(d.TemplateRevision)
}

// count is a pool's asked-for size, "" when the spec does not say.
func count(p *Pool) string {
	if p == nil || p.Count == nil {
		return ""
	}
	return strconv.Itoa(*p.Count)
}

func (c *Cluster) workers() string {
	if t := c.Entity.Spec.Topology; t != nil {
		return count(t.Workers)
	}
	return ""
}

func (c *Cluster) controlPlaneIP() string {
	if s := c.Entity.Status; s != nil && s.Nodes != nil && s.Nodes.ControlPlane != nil {
		return s.Nodes.ControlPlane.IP
	}
	return ""
}

// Message is the {"message": "…"} answer of kubeconfig and system changes; the org VDC
// change answers {"task_href": "…"}.
type Message struct {
	Message  string `json:"message"`
	TaskHref string `json:"task_href"`
}

// Operation is kaas's GET cse/3.0/operations/{id}: how an accepted change is going.
type Operation struct {
	ID        string     `json:"id"`
	ClusterID string     `json:"clusterId"`
	Operation string     `json:"operation"`
	Status    string     `json:"status"` // PENDING, RUNNING, SUCCEEDED, FAILED, REJECTED, SUPERSEDED
	Phase     string     `json:"phase"`
	Step      string     `json:"step"`
	Percent   int        `json:"percent"`
	Target    string     `json:"target"`
	Error     *KaasError `json:"error"`
	Retrying  *KaasError `json:"retrying"`
}

// final reports whether the operation has ended, one way or another.
func (o *Operation) final() bool {
	switch o.Status {
	case "SUCCEEDED", "FAILED", "REJECTED", "SUPERSEDED":
		return true
	}
	return false
}

// Template is one item of GET cse/templates (and of an upgrade plan).
type Template struct {
	Name              string `json:"name"`
	Revision          int    `json:"revision"`
	KubernetesVersion string `json:"kubernetes_version"`
	OS                string `json:"os"`
	CNI               string `json:"cni"`
	CNIVersion        string `json:"cni_version"`
	Deprecated        bool   `json:"deprecated"`
	Description       string `json:"description"`
	Catalog           string `json:"catalog"`
	CatalogItem       string `json:"catalog_item"`
	IsDefault         bool   `json:"is_default"`
	Kind              string `json:"kind"`
}

// Ovdc is one org VDC of GET cse/3.0/ovdcs; ID is the VDC's bare UUID, as CSE gives it.
type Ovdc struct {
	Name       string   `json:"ovdc_name"`
	ID         string   `json:"ovdc_id"`
	OrgName    string   `json:"org_name"`
	K8sRuntime []string `json:"k8s_runtime"`
}

// OvdcUpdate is the body of PUT cse/3.0/ovdc/{id}.
type OvdcUpdate struct {
	K8sRuntime []string `json:"k8s_runtime"`
	OrgName    string   `json:"org_name"`
	OvdcName   string   `json:"ovdc_name"`
}

// Page is CSE's paged answer.
type Page[T any] struct {
	ResultTotal     int    `json:"resultTotal"`
	PageCount       int    `json:"pageCount"`
	Page            int    `json:"page"`
	PageSize        int    `json:"pageSize"`
	NextPageURI     string `json:"nextPageUri,omitempty"`
	PreviousPageURI string `json:"previousPageUri,omitempty"`
	Values          []T    `json:"values"`
}

// Event is one recorded event (or, in the audit, command) of a cluster's history, and
// the audit's answers are kaas's own types.
type (
	Event        = cse.Event
	Verification = cse.Verification
	ReplayReport = cse.ReplayReport
)

// DeadLetter is one entry of kaas's GET cse/3.0/admin/dlq.
type DeadLetter struct {
	Seq        uint64    `json:"seq"`
	CommandSeq uint64    `json:"commandSeq"`
	ClusterID  string    `json:"clusterId"`
	CommandID  string    `json:"commandId"`
	Command    string    `json:"command"`
	OrgID      string    `json:"orgId"`
	Actor      string    `json:"actor"`
	RequestID  string    `json:"requestId"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}

// ACLEntry is one grant of a cluster's ACL, as GET answers and PUT takes it.
type ACLEntry struct {
	MemberID      string `json:"memberId"`
	Username      string `json:"username,omitempty"`
	AccessLevelID string `json:"accessLevelId"`
	GrantType     string `json:"grantType"`
}

// SystemInfo is the part of GET cse/system kaasctl reads; the rest is printed as it came.
type SystemInfo struct {
	Version    string `json:"version"`
	APIVersion string `json:"cse_server_api_version"`
	Status     string `json:"status"`
}
