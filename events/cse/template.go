package cse

// The provider's template routes are kaas's own (CSE built templates with its installer,
// not through its API); their bodies use CSE's snake_case keys, as its template list does.

// ProviderTemplate is one template revision as GET /api/cse/3.0/templates shows it to a
// provider: what it offers, where it stands (status BUILDING, READY, FAILED, DELETING or
// DELETED) and the operation that brought it there.
type ProviderTemplate struct {
	Name              string        `json:"name"`
	Revision          int           `json:"revision"`
	KubernetesVersion string        `json:"kubernetes_version"`
	OS                string        `json:"os"`
	CNI               string        `json:"cni"`
	CNIVersion        string        `json:"cni_version"`
	ContainerdVersion string        `json:"containerd_version"`
	Description       string        `json:"description"`
	Deprecated        bool          `json:"deprecated"`
	Source            string        `json:"source"` // built, imported, or empty: put in the catalog by hand
	Rules             TemplateRules `json:"rules"`
	Catalog           string        `json:"catalog"`
	CatalogItem       string        `json:"catalog_item"`
	Status            string        `json:"status"`
	// Step is the last step of the operation in progress (or the last one); GuestStep the
	// last customization step a build's guest reported.
	Step        string `json:"step,omitempty"`
	GuestStep   string `json:"guest_step,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	// TemplateID is the revision's aggregate id: its history in the audit.
	TemplateID string     `json:"template_id"`
	Failure    *KaasError `json:"failure,omitempty"`
	Retrying   *KaasError `json:"retrying,omitempty"`
}

// TemplateRules are a template's defaults for clusters' VMs (CSE's template_rules); zero
// is none.
type TemplateRules struct {
	CPU          int    `json:"cpu,omitempty"`
	MemoryMB     int    `json:"memory_mb,omitempty"`
	SizingPolicy string `json:"sizing_policy,omitempty"`
}

// TemplateAccepted is the 202 answer to a build or an import: the revision it makes and
// the operation that makes it.
type TemplateAccepted struct {
	Name        string `json:"name"`
	Revision    int    `json:"revision"`
	OperationID string `json:"operation_id"`
	TemplateID  string `json:"template_id"`
}

// TemplateImport is the body of POST /api/cse/3.0/templates/action/import: a ready-made
// OVA and what it holds. Revision 0 takes the next one.
type TemplateImport struct {
	Name              string `json:"name"`
	Revision          int    `json:"revision,omitempty"`
	OVA               string `json:"ova"`
	SHA256            string `json:"sha256,omitempty"`
	KubernetesVersion string `json:"kubernetes_version"`
	OS                string `json:"os"`
	CNI               string `json:"cni"`
	CNIVersion        string `json:"cni_version"`
	ContainerdVersion string `json:"containerd_version,omitempty"`
	Description       string `json:"description,omitempty"`
	CPU               int    `json:"cpu,omitempty"`
	MemoryMB          int    `json:"memory_mb,omitempty"`
	SizingPolicy      string `json:"sizing_policy,omitempty"`
}

// TemplateDeprecation is the body of POST template/{name}/{revision}/action/deprecate;
// Deprecated nil (or no body) deprecates.
type TemplateDeprecation struct {
	Deprecated *bool `json:"deprecated"`
}
