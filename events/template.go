package events

import "strconv"

// Templates are made by kaas as CSE's installer made them: from a recipe, a temporary vApp
// on the provider's base OS image is customized by its guest and captured into the catalog.
// Each revision of a template is one aggregate, under TemplateID(name, revision), on the same
// subjects as the clusters, so that it is stored, replayed, audited and verified as they
// are. Its operations are a build, an import of a ready-made OVA, a deprecation and a
// delete; their failures and retries are recorded with the clusters' StepRetrying,
// OperationFailed, OperationRolledBack and CommandRejected.

// TemplateID is the id of the aggregate of one revision of a template.
func TemplateID(name string, revision int) string {
	return DeriveID("template", name+"\x00"+strconv.Itoa(revision))
}

// TemplateItemName is the catalog item a template revision is captured or imported as,
// CSE's naming: <name>_rev<revision>.
func TemplateItemName(name string, revision int) string {
	return name + "_rev" + strconv.Itoa(revision)
}

// Recipe says how to build a template: from which base OS image, with which Kubernetes,
// container runtime and CNI, what defaults clusters made from it get, and which of the
// provider's own scripts run after kaas's customization. It is kaas's own form of a recipe
// file (deploy/recipes), recorded whole in the build's history.
type Recipe struct {
	// Name is the template's name, as tenants pick it: ubuntu-22.04_k8s-1.30_antrea-1.15.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// OS names the base image's operating system, ubuntu-22.04.
	OS   string    `json:"os"`
	Base BaseImage `json:"base"`
	// KubernetesVersion is v1.30.4; ContainerdVersion is 1.7.20.
	KubernetesVersion string    `json:"kubernetesVersion"`
	ContainerdVersion string    `json:"containerdVersion"`
	CNI               RecipeCNI `json:"cni"`
	// Rules are the CPU, memory and VM sizing policy clusters made from the template get
	// when their spec names none (CSE's template_rules).
	Rules   TemplateRules  `json:"rules,omitzero"`
	Scripts []RecipeScript `json:"scripts,omitempty"`
}

// BaseImage is the OS image a build starts from: a vApp template of that name in the
// catalog, uploaded from the OVA when it is not there yet.
type BaseImage struct {
	Name string `json:"name"`
	// OVA is where the image comes from: a file on kaasd's host or an https URL VCD
	// downloads itself.
	OVA string `json:"ova,omitempty"`
	// SHA256, when given, is checked before a file is uploaded.
	SHA256 string `json:"sha256,omitempty"`
}

// RecipeCNI is the CNI a template ships: its manifest is downloaded at build time to
// /opt/kaas/cni/<name>-<version>.yaml, where a control plane applies it.
type RecipeCNI struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Manifest string `json:"manifest"`
}

// TemplateRules are a template's defaults for the VMs of clusters made from it; zero
// leaves a value to the template VM's own hardware.
type TemplateRules struct {
	CPU          int    `json:"cpu,omitempty"`
	MemoryMB     int    `json:"memoryMb,omitempty"`
	SizingPolicy string `json:"sizingPolicy,omitempty"`
}

// RecipeScript is a provider's own customization step, run as root after kaas's, in order.
type RecipeScript struct {
	Name string `json:"name"`
	Run  string `json:"run"`
}

// BuildTemplate asks for a new revision of a template, built from the recipe.
type BuildTemplate struct {
	Recipe   Recipe `json:"recipe"`
	Revision int    `json:"revision"`
}

// ImportTemplate asks to upload a ready-made OVA (TKGm's, or one a provider built
// elsewhere) as a template revision described by Template.
type ImportTemplate struct {
	Template Template `json:"template"`
	OVA      string   `json:"ova"`
	SHA256   string   `json:"sha256,omitempty"`
}

// DeprecateTemplate marks a template revision deprecated (or, with Deprecated false, no
// longer so). Deprecated revisions are refused for new clusters and upgrades; clusters
// already made from them keep working.
type DeprecateTemplate struct {
	Template   TemplateRef `json:"template"`
	Deprecated bool        `json:"deprecated"`
}

// DeleteTemplate asks to remove a template revision from the catalog.
type DeleteTemplate struct {
	Template TemplateRef `json:"template"`
}

// TemplateBuildStarted records that a build was accepted: what it builds, and the catalog
// item it will capture into.
type TemplateBuildStarted struct {
	Recipe      Recipe `json:"recipe"`
	Revision    int    `json:"revision"`
	CatalogItem string `json:"catalogItem"`
}

// BaseImageReady records the base OS image the build's VM is made from; Uploaded says this
// build uploaded it.
type BaseImageReady struct {
	Name           string `json:"name"`
	VAppTemplateID string `json:"vappTemplateId"`
	Uploaded       bool   `json:"uploaded,omitempty"`
}

// BuildVAppCreated records the build's temporary vApp.
type BuildVAppCreated struct {
	VAppID string `json:"vappId"`
	Name   string `json:"name"`
}

// BuildVMCreated records the build's VM, powered off, with its customization in guestinfo.
type BuildVMCreated struct {
	Name string `json:"name"`
	VMID string `json:"vmId"`
}

// BuildVMStarted records that the build's VM was powered on and its guest customizes.
type BuildVMStarted struct{}

// TemplateBuildProgressed records the customization step the guest reported.
type TemplateBuildProgressed struct {
	Step string `json:"step"`
}

// BuildCustomized records that the guest finished its customization.
type BuildCustomized struct{}

// BuildVMStopped records that the build's VM is powered off, ready to capture.
type BuildVMStopped struct{}

// TemplateCaptured records the catalog item the build's vApp was captured as.
type TemplateCaptured struct {
	CatalogItemID  string `json:"catalogItemId"`
	VAppTemplateID string `json:"vappTemplateId"`
}

// BuildVAppDeleted records that the temporary vApp is gone.
type BuildVAppDeleted struct{}

// TemplateBuilt records that the revision is in the catalog, as tenants see it.
type TemplateBuilt struct {
	Template Template `json:"template"`
}

// TemplateImportStarted records that an import was accepted.
type TemplateImportStarted struct {
	Template    Template `json:"template"`
	OVA         string   `json:"ova"`
	CatalogItem string   `json:"catalogItem"`
}

// TemplateImported records that the imported revision is in the catalog.
type TemplateImported struct {
	Template Template `json:"template"`
}

// TemplateDeprecated records that a revision is (or is no longer) deprecated.
type TemplateDeprecated struct {
	Template   TemplateRef `json:"template"`
	Deprecated bool        `json:"deprecated"`
}

// TemplateDeletionStarted records that a delete was accepted.
type TemplateDeletionStarted struct {
	Template TemplateRef `json:"template"`
}

// TemplateDeleted records that the revision's catalog item is gone.
type TemplateDeleted struct {
	Template TemplateRef `json:"template"`
}

// Template command and event type names.
const (
	TypeBuildTemplate           = "BuildTemplate"
	TypeImportTemplate          = "ImportTemplate"
	TypeDeprecateTemplate       = "DeprecateTemplate"
	TypeDeleteTemplate          = "DeleteTemplate"
	TypeTemplateBuildStarted    = "TemplateBuildStarted"
	TypeBaseImageReady          = "BaseImageReady"
	TypeBuildVAppCreated        = "BuildVAppCreated"
	TypeBuildVMCreated          = "BuildVMCreated"
	TypeBuildVMStarted          = "BuildVMStarted"
	TypeTemplateBuildProgressed = "TemplateBuildProgressed"
	TypeBuildCustomized         = "BuildCustomized"
	TypeBuildVMStopped          = "BuildVMStopped"
	TypeTemplateCaptured        = "TemplateCaptured"
	TypeBuildVAppDeleted        = "BuildVAppDeleted"
	TypeTemplateBuilt           = "TemplateBuilt"
	TypeTemplateImportStarted   = "TemplateImportStarted"
	TypeTemplateImported        = "TemplateImported"
	TypeTemplateDeprecated      = "TemplateDeprecated"
	TypeTemplateDeletionStarted = "TemplateDeletionStarted"
	TypeTemplateDeleted         = "TemplateDeleted"
)

func (BuildTemplate) Type() string           { return TypeBuildTemplate }
func (ImportTemplate) Type() string          { return TypeImportTemplate }
func (DeprecateTemplate) Type() string       { return TypeDeprecateTemplate }
func (DeleteTemplate) Type() string          { return TypeDeleteTemplate }
func (TemplateBuildStarted) Type() string    { return TypeTemplateBuildStarted }
func (BaseImageReady) Type() string          { return TypeBaseImageReady }
func (BuildVAppCreated) Type() string        { return TypeBuildVAppCreated }
func (BuildVMCreated) Type() string          { return TypeBuildVMCreated }
func (BuildVMStarted) Type() string          { return TypeBuildVMStarted }
func (TemplateBuildProgressed) Type() string { return TypeTemplateBuildProgressed }
func (BuildCustomized) Type() string         { return TypeBuildCustomized }
func (BuildVMStopped) Type() string          { return TypeBuildVMStopped }
func (TemplateCaptured) Type() string        { return TypeTemplateCaptured }
func (BuildVAppDeleted) Type() string        { return TypeBuildVAppDeleted }
func (TemplateBuilt) Type() string           { return TypeTemplateBuilt }
func (TemplateImportStarted) Type() string   { return TypeTemplateImportStarted }
func (TemplateImported) Type() string        { return TypeTemplateImported }
func (TemplateDeprecated) Type() string      { return TypeTemplateDeprecated }
func (TemplateDeletionStarted) Type() string { return TypeTemplateDeletionStarted }
func (TemplateDeleted) Type() string         { return TypeTemplateDeleted }

// templateTypes are the commands and events only template aggregates have.
var templateTypes = map[string]bool{
	TypeBuildTemplate: true, TypeImportTemplate: true, TypeDeprecateTemplate: true, TypeDeleteTemplate: true,
	TypeTemplateBuildStarted: true, TypeBaseImageReady: true, TypeBuildVAppCreated: true, TypeBuildVMCreated: true,
	TypeBuildVMStarted: true, TypeTemplateBuildProgressed: true, TypeBuildCustomized: true, TypeBuildVMStopped: true,
	TypeTemplateCaptured: true, TypeBuildVAppDeleted: true, TypeTemplateBuilt: true, TypeTemplateImportStarted: true,
	TypeTemplateImported: true, TypeTemplateDeprecated: true, TypeTemplateDeletionStarted: true, TypeTemplateDeleted: true,
}

// IsTemplateType reports whether a command or event type belongs to template aggregates
// only. A template aggregate's history starts with one of them, or with a CommandRejected
// whose CommandType is one: that is how readers tell it from a cluster's.
func IsTemplateType(typeName string) bool { return templateTypes[typeName] }

// IsTemplateHistory reports whether an aggregate whose first record is env is a template's.
func IsTemplateHistory(first Envelope) bool {
	if r, ok := first.Payload.(CommandRejected); ok {
		return IsTemplateType(r.CommandType)
	}
	return IsTemplateType(first.Type)
}

// Failure codes of template operations.
const (
	CodeTemplateExists      = "TEMPLATE_EXISTS"
	CodeTemplateBusy        = "TEMPLATE_BUSY"
	CodeCustomizationFailed = "CUSTOMIZATION_FAILED"
	CodeBaseImageNotFound   = "BASE_IMAGE_NOT_FOUND"
)
