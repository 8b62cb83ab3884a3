package cse

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
)

// Template is one item of CSE's GET /api/cse/templates.
type Template struct {
	Catalog           string `json:"catalog"`
	CatalogItem       string `json:"catalog_item"`
	CNI               string `json:"cni"`
	CNIVersion        string `json:"cni_version"`
	Deprecated        bool   `json:"deprecated"`
	Description       string `json:"description"`
	DockerVersion     string `json:"docker_version"`
	IsDefault         bool   `json:"is_default"`
	Kind              string `json:"kind"`
	Kubernetes        string `json:"kubernetes"`
	KubernetesVersion string `json:"kubernetes_version"`
	Name              string `json:"name"`
	OS                string `json:"os"`
	Revision          int    `json:"revision"`
}

// RenderTemplate turns a template into CSE's shape.
func RenderTemplate(t events.Template) Template {
	desc := t.Description
	if desc == "" {
		desc = "Kubernetes " + t.KubernetesVersion + " on " + t.OS + " with " + t.CNI.Name + " " + t.CNI.Version
	}
	return Template{Catalog: t.Catalog, CatalogItem: t.Name, CNI: t.CNI.Name, CNIVersion: t.CNI.Version, Deprecated: t.Deprecated,
		Description: desc, DockerVersion: t.DockerVersion, Kind: "native", Kubernetes: "upstream",
		KubernetesVersion: strings.TrimPrefix(t.KubernetesVersion, "v"), Name: t.Name, OS: t.OS, Revision: t.Revision}
}

// Ovdc is one org VDC as CSE 3.1.4 answers it, in GET /api/cse/3.0/orgvdcs (paged),
// GET ovdcs and GET ovdc/{id}: exactly these keys, since CSE's client builds its Ovdc
// model from the object and any other key makes that raise. ovdc_id is the VDC's bare
// UUID, as CSE gives it; its runtimes are what Kubernetes it is enabled for (empty: none).
// CSE leaves org_name null in lists; kaas names the org, which its client never reads
// there and accepts in the model.
type Ovdc struct {
	Name       string   `json:"ovdc_name"`
	ID         string   `json:"ovdc_id"`
	OrgName    string   `json:"org_name"`
	K8sRuntime []string `json:"k8s_runtime"`
}

// VDCURNPrefix starts an org VDC's URN; CSE's routes name a VDC by the UUID after it.
const VDCURNPrefix = "urn:vcloud:vdc:"

// OvdcID is the id CSE shows for an org VDC: the bare UUID of its URN.
func OvdcID(urn string) string {
	if len(urn) > len(VDCURNPrefix) && strings.EqualFold(urn[:len(VDCURNPrefix)], VDCURNPrefix) {
		return urn[len(VDCURNPrefix):]
	}
	return urn
}

// VDCURN is the URN of an org VDC named by its URN or, as CSE's routes name it, its bare
// UUID.
func VDCURN(id string) string { return VDCURNPrefix + OvdcID(id) }

// OvdcUpdate is the body of PUT ovdc/{id}, as CSE 3.1.4's client sends it: its whole Ovdc
// model, {"k8s_runtime": [...], "ovdc_name": null, "ovdc_id": null, "org_name": "acme",
// "remove_cp_from_vms_on_disable": false}. The names, when given, must be the VDC's.
type OvdcUpdate struct {
	K8sRuntime []string `json:"k8s_runtime"`
	OrgName    string   `json:"org_name"`
	OvdcName   string   `json:"ovdc_name"`
	OvdcID     string   `json:"ovdc_id,omitempty"`
	// RemoveCPFromVMsOnDisable asks CSE to take its placement policies off the VDC's VMs
	// when a runtime is disabled; kaas places VMs with no such policy, so there is nothing
	// to take off.
	RemoveCPFromVMsOnDisable bool `json:"remove_cp_from_vms_on_disable"`
}

// Event is one entry of kaas's GET /api/cse/3.0/cluster/{id}/events: a recorded event of the
// cluster's history, as it is stored (secrets are references, never values).
type Event struct {
	ID          string          `json:"id"`
	Seq         uint64          `json:"seq"`
	Kind        string          `json:"kind,omitempty"` // audit: event or command
	ClusterID   string          `json:"clusterId,omitempty"`
	OrgID       string          `json:"orgId,omitempty"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	Actor       string          `json:"actor,omitempty"`
	OperationID string          `json:"operationId,omitempty"`
	RequestID   string          `json:"requestId,omitempty"`
	Hash        string          `json:"hash"`
	PrevHash    string          `json:"prevHash,omitempty"`
	Data        json.RawMessage `json:"data"`
}

// SystemInfo is CSE's GET /api/cse/system, in CSE 3.1.4's keys (core_utils.get_cse_info and
// Service.info). Its client prints every key, and picks the API version it speaks from
// the supported versions and the legacy flag, both there.
type SystemInfo struct {
	Product          string   `json:"product"`
	Description      string   `json:"description"`
	Version          string   `json:"version"`
	APIVersion       string   `json:"cse_server_api_version"` // the newest served, as CSE's default_api_version
	SupportedVersion []string `json:"cse_server_supported_api_versions"`
	LegacyMode       bool     `json:"cse_server_running_in_legacy_mode"`
	// Status is "Running" or "Disabled".
	Status string `json:"status"`
	// Providers also see what the service holds.
	Clusters         *int    `json:"clusters,omitempty"`
	TemplatesSynced  *string `json:"templates_synced,omitempty"`
	RequestsInFlight *int    `json:"requests_in_progress,omitempty"`
}

// AuditQuery selects records for a provider's audit (kaas's GET /api/cse/3.0/audit). Empty
// fields match everything.
type AuditQuery struct {
	Commands     bool // the command stream instead of the event stream
	OrgID        string
	ClusterID    string
	Actor        string
	Types        []string
	Since, Until time.Time
	NewestFirst  bool
	// Page and PageSize (from 1) say which page of the matches to return; every match is
	// counted, only the page's are rendered.
	Page, PageSize int
	// Cursor reads from the record after sequence After instead (oldest first): up to
	// PageSize records and one more, which says that more remain, uncounted.
	Cursor bool
	After  uint64
}

// AuditResult is one page of an audit: its records and how many matched in all (-1 when
// a cursor read did not count them).
type AuditResult struct {
	Records []Event
	Total   int
}

// Verification is kaas's GET /api/cse/3.0/audit/verify: every cluster's hash chain checked.
type Verification struct {
	OK       bool           `json:"ok"`
	Clusters int            `json:"clusters"`
	Events   int            `json:"events"`
	Problems []ChainProblem `json:"problems"`
}

// ChainProblem is one place where the stored history is not what kaas wrote.
type ChainProblem struct {
	ClusterID string `json:"clusterId"`
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"` // missing, broken, reordered, head
	Detail    string `json:"detail"`
}

// ReplayReport is kaas's POST /api/cse/3.0/admin/replay: the views rebuilt from sequence 1
// and compared with the live ones at the same sequences.
type ReplayReport struct {
	CommandSeq  uint64   `json:"commandSeq"`
	EventSeq    uint64   `json:"eventSeq"`
	Clusters    int      `json:"clusters"`
	Operations  int      `json:"operations"`
	Differences []string `json:"differences"`
	// Swapped is set when the rebuilt views replaced the live ones (swap=true).
	Swapped bool    `json:"swapped"`
	Seconds float64 `json:"seconds"`
}
