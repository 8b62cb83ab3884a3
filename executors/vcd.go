package executors

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaasproject/kaas/events"
)

// VCD is what the executors need of VMware Cloud Director. Every call is short and
// idempotent: it looks for what an earlier, interrupted call may have made (by name and
// kaas metadata) before making anything, and it never waits for VCD to finish. A call whose
// work VCD has not finished yet returns a Status with Done false; the executor calls it
// again later.
type VCD interface {
	// ResolveTemplate finds a template by name and revision in the catalogs the org sees.
	ResolveTemplate(ctx context.Context, org Org, ref events.TemplateRef) (events.Template, error)
	// Cloud lists what kaas offers Kubernetes on: the templates of the provider's catalog
	// and every org VDC; and every org's users, whose names kaas shows. Users it cannot
	// read are left out, without failing the rest.
	Cloud(ctx context.Context) (events.CloudSynced, error)
	// EnsureVApp finds or creates the cluster's vApp, attached to the network and tagged
	// with the cluster's metadata.
	EnsureVApp(ctx context.Context, spec VAppSpec) (Status, error)
	// EnsureVM finds or creates a node's VM from the template, powered off, with its
	// guestinfo (the bootstrap) and metadata set.
	EnsureVM(ctx context.Context, spec VMSpec) (Status, error)
	// PowerOn powers a VM on.
	PowerOn(ctx context.Context, vm VMRef) (Status, error)
	// GuestInfo reads the guestinfo keys a VM's guest published.
	GuestInfo(ctx context.Context, vm VMRef) (map[string]string, error)
	// SetGuestInfo sets guestinfo keys for the guest to read.
	SetGuestInfo(ctx context.Context, vm VMRef, values map[string]string) (Status, error)
	// DeleteVM powers off and deletes a VM; a VM that is not there is already deleted.
	DeleteVM(ctx context.Context, vm VMRef) (Status, error)
	// DeleteVApp undeploys and deletes the cluster's vApp and every VM in it; a vApp that is
	// not there is already deleted.
	DeleteVApp(ctx context.Context, vapp VAppRef) (Status, error)

	// Template builds and imports. A build's temporary vApp is made, started, read and
	// deleted with the calls above; these are what it needs beyond them.

	// EnsureImage finds the catalog item spec.Item in the catalog, or uploads it from
	// spec.OVA. Status.ID is its vApp template's URN, set once VCD finished importing it;
	// Done is false while the upload or VCD's import runs. An item spec.Owner left half
	// uploaded (its upload interrupted, or VCD's import failed) is deleted and uploaded
	// again; one another owner is uploading is waited for (Done false).
	EnsureImage(ctx context.Context, spec ImageSpec) (Status, error)
	// PowerOff powers a VM off; a VM that is off is done.
	PowerOff(ctx context.Context, vm VMRef) (Status, error)
	// CaptureVApp captures a powered-off vApp into the catalog as spec.Item, with
	// spec.Metadata on the catalog item. An item of that name that spec.Owner captured is
	// the earlier, interrupted capture (its metadata is completed); one that is not fails
	// with CodeTemplateExists. Status.ID is the catalog item's URN.
	CaptureVApp(ctx context.Context, spec CaptureSpec) (Status, error)
	// SetTemplateMetadata merges metadata into a template revision's catalog item (found as
	// ResolveTemplate finds it).
	SetTemplateMetadata(ctx context.Context, org string, ref events.TemplateRef, metadata map[string]string) (Status, error)
	// DeleteTemplate deletes a template revision's catalog item and its vApp template; one
	// that is not there is already deleted.
	DeleteTemplate(ctx context.Context, org string, ref events.TemplateRef) (Status, error)
	// DeleteCatalogItem deletes the catalog item item.Name (and its vApp template) if
	// item.Owner uploaded or captured it (its MetaBuildID) and, with item.Unfinished, only
	// if VCD never finished its upload or import: what a failed build or import leaves. An
	// item that is not there, another owner's, or (with Unfinished) complete is left
	// alone, and the call is done.
	DeleteCatalogItem(ctx context.Context, item ItemRef) (Status, error)
}

// ItemRef names a catalog item of the catalog in Org that the aggregate Owner made.
type ItemRef struct {
	Org, Name, Owner string
	Unfinished       bool
}

// ImageSpec is an OVA to have as a catalog item of the catalog in Org.
type ImageSpec struct {
	Org, Item, Description string
	// OVA is a file on kaasd's host, or an http(s) URL VCD downloads from itself.
	OVA string
	// SHA256, when given, is checked against a file before it is uploaded.
	SHA256 string
	// Owner is the id of the aggregate uploading it, kept in the item's metadata
	// (MetaBuildID) so that a retried upload finds its own.
	Owner string
	// Metadata is set on the catalog item once it is imported (an imported template's
	// kaas.template.* keys; none for a base image).
	Metadata map[string]string
}

// CaptureSpec is a vApp to capture as a catalog item of the catalog in VApp.Org.
type CaptureSpec struct {
	VApp              VAppRef
	Item, Description string
	Owner             string
	Metadata          map[string]string
}

// Status is the state of a VCD object an executor asked for.
type Status struct {
	// ID is the object's VCD URN, once known.
	ID string
	// Done is false while VCD still works on the request.
	Done bool
}

// Org names a tenant organization by the name the tenant wrote and the URN VCD vouched for
// in the caller's security context. An implementation must refuse a name that is not the
// URN's org: that is what stops a tenant from naming another org in its request.
type Org struct {
	Name, ID string
}

// VAppRef names a cluster's vApp. Name is the cluster name (CSE's convention); ClusterID
// is in its metadata and tells it apart from a tenant's vApp of the same name.
type VAppRef struct {
	Org, VDC, Name, ClusterID string
	// OrgID is the org's URN, checked against Org.
	OrgID string
}

// VAppSpec is a vApp to create.
type VAppSpec struct {
	VAppRef
	Network  string
	Metadata map[string]string
}

// VMRef names a VM in a cluster's vApp.
type VMRef struct {
	VApp VAppRef
	Name string
}

// VMSpec is a node VM to create.
type VMSpec struct {
	VMRef
	Role           string
	Template       events.Template
	Network        string
	SizingClass    string
	StorageProfile string
	CPU, MemoryMB  int
	// GuestInfo holds the bootstrap (user data) and anything else the guest reads.
	GuestInfo map[string]string
	Metadata  map[string]string
}

// VMHardware is what a VM got in VCD: its VM sizing policy and storage profile, by name,
// and its CPUs and memory. The conformance suite (executors/vcdtest) reads it to check that
// a VMSpec was honoured.
type VMHardware struct {
	SizingPolicy, StorageProfile string
	CPU, MemoryMB                int
}

// Metadata keys kaas puts on every vApp and VM it creates, so that a retried step finds
// what an interrupted one made (architecture.md §3.4).
const (
	MetaClusterID = "kaas.cluster.id"
	MetaNodeRole  = "kaas.node.role"
	MetaOrgID     = "kaas.org.id"
	MetaTemplate  = "kaas.template"
	// MetaBuildID is on a catalog item kaas uploaded or captured: the id of the template
	// aggregate that made it.
	MetaBuildID = "kaas.build.id"
)

// Error is a VCD failure, classified once where VCD is called.
type Error struct {
	// Retryable errors (busy entity, timeouts, 5xx) are tried again with backoff;
	// others fail the operation.
	Retryable bool
	// Code is kaas's failure code; VCDCode and VCDMessage keep VCD's own.
	Code       string
	Message    string
	VCDCode    string
	VCDMessage string
	Err        error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.VCDMessage != "" {
		msg += ": VCD says " + e.VCDCode + ": " + e.VCDMessage
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable wraps a transient VCD failure.
func Retryable(vcdCode, vcdMessage string, err error) *Error {
	return &Error{Retryable: true, Code: events.CodeVCDError, Message: "VCD call failed", VCDCode: vcdCode, VCDMessage: vcdMessage, Err: err}
}

// Terminal wraps a failure that retrying cannot fix.
func Terminal(code, message, vcdCode, vcdMessage string) *Error {
	return &Error{Code: code, Message: message, VCDCode: vcdCode, VCDMessage: vcdMessage}
}

// classify turns any error into a retry decision and a failure to record. Errors that did
// not come classified (a dropped connection, a timeout) are retryable: the attempt limit
// bounds them.
func classify(err error) (retryable bool, f events.Failure) {
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Retryable, events.Failure{Code: ve.Code, Message: ve.Message, VCDCode: ve.VCDCode, VCDMessage: ve.VCDMessage}
	}
	if errors.Is(err, context.Canceled) {
		return true, events.Failure{Code: events.CodeVCDError, Message: "interrupted"}
	}
	return true, events.Failure{Code: events.CodeVCDError, Message: fmt.Sprintf("VCD call failed: %v", err)}
}
