package template

import (
	"slices"
	"strconv"
	"time"

	"github.com/kaasproject/kaas/events"
)

// Operations a template revision goes through; with events.MakePhase they make its phase
// (BUILD:IN_PROGRESS, IMPORT:FAILED, DELETE:SUCCEEDED…). A deprecation is no operation: it
// is recorded at once, as a cluster's sharing is.
const (
	OpBuild  = "BUILD"
	OpImport = "IMPORT"
	OpDelete = events.OpDelete
)

// Statuses of a revision, as the provider's template list shows them.
const (
	StatusBuilding = "BUILDING" // a build or an import is in progress
	StatusReady    = "READY"    // in the catalog
	StatusFailed   = "FAILED"   // its build or import failed; nothing of it is left (or, if its rollback failed, say so in LastFailure)
	StatusDeleting = "DELETING"
	StatusDeleted  = "DELETED"
)

// BuildVMName is the name of a build's one VM.
const BuildVMName = "build"

// BuildVAppName is the name of a build's temporary vApp: kaas-build-<first 8 characters of
// the aggregate id>.
func BuildVAppName(id string) string {
	if len(id) > 8 {
		id = id[:8]
	}
	return "kaas-build-" + id
}

// State is everything the events of one template revision say about it.
type State struct {
	ID    string
	OrgID string // of the provider whose command started its history
	// Template is the revision as tenants will see it: name and revision from the start,
	// the rest once known (a build's catalog item id once captured).
	Template events.Template
	// CatalogItem is the catalog item's name, <name>_rev<revision>.
	CatalogItem string
	// Exists is set once a build or import was accepted; a revision made by hand and only
	// deprecated or deleted here has none.
	Exists bool
	// Ready is set while the revision is in the catalog as kaas made it: built or imported.
	Ready bool
	// Deleted is set once a delete removed its catalog item.
	Deleted bool
	// RolledBack is set when a failed build or import was undone: nothing of it is left.
	RolledBack bool

	// Recipe is what a build builds from; OVA what an import uploads.
	Recipe events.Recipe
	OVA    string
	// Build is how far the build got.
	Build Build

	Phase events.Phase
	// Op is the operation in progress, nil when the revision is idle.
	Op *Operation
	// LastFailure is why the last operation failed, until one succeeds.
	LastFailure *events.Failure

	Created, Updated time.Time

	// Seq is the stream sequence of the last event applied, Hash its hash. Events counts them.
	Seq    uint64
	Hash   string
	Events int

	// commands holds the id of every command that started or was refused here, so that a
	// command delivered again long after the stream's dedupe window does nothing.
	commands map[string]bool
}

// Build is what a build made so far: each step's product, as its event recorded it.
type Build struct {
	BaseImageID  string // the base image's vApp template, once ready
	BaseUploaded bool   // this build uploaded it
	VAppID       string
	VAppName     string
	VAppDeleted  bool // the temporary vApp is gone (at the end of the build, or in its rollback)
	VMID         string
	Started      bool
	StartedAt    time.Time
	GuestStep    string // the customization step the guest last reported
	Customized   bool
	Stopped      bool
	// CatalogItemID and VAppTemplateID are the captured item's, once captured.
	CatalogItemID  string
	VAppTemplateID string
}

// Operation is the operation in progress.
type Operation struct {
	CommandID     string
	CommandType   string
	Op            string // BUILD, IMPORT, DELETE
	Actor         string
	CorrelationID string
	Started       time.Time

	// Failed is set when the operation failed and is being rolled back, since FailedAt.
	Failed   *events.Failure
	FailedAt time.Time
	// Retry is set while a step waits to be tried again after a retryable error.
	Retry *Retry
	// LastStep is the type of the last event the operation recorded.
	LastStep string
}

// Retry is the state of a step that hit a retryable error.
type Retry struct {
	Step     string
	Attempt  int
	NotUntil time.Time
	Failure  events.Failure
}

// Ref is the revision's name and number.
func (s *State) Ref() events.TemplateRef {
	return events.TemplateRef{Name: s.Template.Name, Revision: s.Template.Revision}
}

// Busy reports whether an operation is in progress.
func (s *State) Busy() bool { return s.Op != nil }

// Seen reports whether a command already started or was refused here.
func (s *State) Seen(commandID string) bool { return s.commands[commandID] }

// Status is the revision's status as the provider's template list shows it. A revision
// with no history here (made by hand) is READY: it is in the catalog.
func (s *State) Status() string {
	switch {
	case s.Op != nil && s.Op.Op == OpDelete:
		return StatusDeleting
	case s.Op != nil:
		return StatusBuilding
	case s.Deleted:
		return StatusDeleted
	case s.Exists && !s.Ready:
		return StatusFailed
	}
	return StatusReady
}

// Clone returns a deep copy, so that a caller can try events on a copy.
func (s *State) Clone() *State {
	c := *s
	if s.Op != nil {
		op := *s.Op
		if op.Failed != nil {
			f := *op.Failed
			op.Failed = &f
		}
		if op.Retry != nil {
			r := *op.Retry
			op.Retry = &r
		}
		c.Op = &op
	}
	if s.LastFailure != nil {
		f := *s.LastFailure
		c.LastFailure = &f
	}
	c.Recipe.Scripts = slices.Clone(s.Recipe.Scripts)
	c.commands = make(map[string]bool, len(s.commands))
	for k, v := range s.commands {
		c.commands[k] = v
	}
	return &c
}

// Metadata is the catalog item metadata of a template revision (the contract's
// kaas.template.* keys): what the cloud sync and the clusters' template lookups read.
// Rules left unset have no key.
func Metadata(t events.Template) map[string]string {
	md := map[string]string{
		"kaas.template.name":               t.Name,
		"kaas.template.revision":           strconv.Itoa(t.Revision),
		"kaas.template.kubernetes_version": t.KubernetesVersion,
		"kaas.template.os":                 t.OS,
		"kaas.template.cni":                t.CNI.Name,
		"kaas.template.cni_version":        t.CNI.Version,
		"kaas.template.containerd_version": t.ContainerdVersion,
		"kaas.template.source":             t.Source,
		"kaas.template.deprecated":         boolString(t.Deprecated),
	}
	if t.Rules.CPU > 0 {
		md["kaas.template.cpu"] = strconv.Itoa(t.Rules.CPU)
	}
	if t.Rules.MemoryMB > 0 {
		md["kaas.template.memory_mb"] = strconv.Itoa(t.Rules.MemoryMB)
	}
	if t.Rules.SizingPolicy != "" {
		md["kaas.template.sizing_policy"] = t.Rules.SizingPolicy
	}
	for k, v := range md {
		if v == "" {
			delete(md, k)
		}
	}
	return md
}

// MetaDeprecated is the catalog item metadata key a deprecation sets.
const MetaDeprecated = "kaas.template.deprecated"

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// FromRecipe is the template revision a recipe builds.
func FromRecipe(r events.Recipe, revision int) events.Template {
	return events.Template{Name: r.Name, Revision: revision, KubernetesVersion: r.KubernetesVersion, OS: r.OS,
		CNI: events.Component{Name: r.CNI.Name, Version: r.CNI.Version}, ContainerdVersion: r.ContainerdVersion,
		Description: r.Description, Rules: r.Rules, Source: events.SourceBuilt}
}

// FromImport is the template revision an import makes of what a provider offers: kaas's
// source, and nothing of a catalog yet (the import puts it there).
func FromImport(t events.Template) events.Template {
	t.Source, t.Catalog, t.CatalogItemID, t.Deprecated = events.SourceImported, "", "", false
	return t
}
