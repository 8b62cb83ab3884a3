package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/kaasproject/kaas/events"
)

// Rejection is a command that may not run. It carries a failure code a client can act on
// and, when one field is to blame, its path in events.ClusterSpec.
type Rejection struct {
	events.Failure
	Field string
}

func (r *Rejection) Error() string { return r.Message }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Failure: events.Failure{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// ErrDuplicate means the command already started or was refused: doing nothing is right.
var ErrDuplicate = errors.New("command already handled")

// Decide says whether the command may run on the cluster as it is. It returns the event
// that starts the operation, or a *Rejection, or ErrDuplicate for a command seen before.
func Decide(s *State, cmd events.Envelope) (events.Payload, error) {
	if s.Seen(cmd.ID) {
		return nil, ErrDuplicate
	}
	switch c := cmd.Payload.(type) {
	case events.CreateCluster:
		if s.Exists {
			return nil, reject(events.CodeAlreadyExists, "cluster %s already exists", s.ID)
		}
		if err := ValidateSpec(c.Spec); err != nil {
			return nil, err
		}
		return events.ClusterCreationStarted{Spec: c.Spec}, nil

	case events.ScaleWorkers:
		if err := s.changeable("scaled"); err != nil {
			return nil, err
		}
		if c.Workers < 0 || c.Workers > MaxWorkers {
			return nil, reject(events.CodeInvalidChange, "worker count must be between 0 and %d, not %d", MaxWorkers, c.Workers)
		}
		if c.Workers == s.Spec.Workers.Count {
			return nil, reject(events.CodeInvalidChange, "cluster %q already has %d workers", s.Spec.Name, c.Workers)
		}
		return events.WorkersScaleStarted{From: s.Spec.Workers.Count, To: c.Workers}, nil

	case events.UpgradeTemplate:
		if err := s.changeable("upgraded"); err != nil {
			return nil, err
		}
		if c.Template == s.Spec.Template {
			return nil, reject(events.CodeInvalidChange, "cluster %q already runs template %s revision %d", s.Spec.Name, c.Template.Name, c.Template.Revision)
		}
		if c.Template.Name == "" || c.Template.Revision < 1 {
			return nil, reject(events.CodeInvalidChange, "an upgrade needs a template name and a revision of 1 or more")
		}
		return events.ClusterUpgradeStarted{From: s.Spec.Template, To: c.Template}, nil

	case events.DeleteCluster:
		if !s.Exists || s.Deleted {
			return nil, reject(events.CodeNotFound, "cluster %s does not exist", cmd.ClusterID)
		}
		if s.Busy() {
			return nil, s.busy()
		}
		return events.ClusterDeletionStarted{}, nil

	case events.ForceDeleteCluster:
		if !s.Exists || s.Deleted {
			return nil, reject(events.CodeNotFound, "cluster %s does not exist", cmd.ClusterID)
		}
		if s.Op != nil && s.Op.Op == events.OpDelete && s.Op.Force {
			return nil, s.busy()
		}
		ev := events.ClusterDeletionStarted{Force: true}
		if s.Op != nil {
			ev.Superseded = s.Op.CommandID
		}
		return ev, nil

	case events.DeleteNFSNode:
		if err := s.changeable("changed"); err != nil {
			return nil, err
		}
		n := s.Node(c.Node)
		if n == nil || n.Role != events.RoleNFS {
			return nil, reject(events.CodeNotFound, "cluster %q has no NFS node %q", s.Spec.Name, c.Node)
		}
		return events.NFSNodeDeletionStarted{Node: c.Node}, nil

	case events.SetClusterACL:
		if !s.Exists || s.Deleted {
			return nil, reject(events.CodeNotFound, "cluster %s does not exist", cmd.ClusterID)
		}
		if err := ValidateACL(c.Entries); err != nil {
			return nil, err
		}
		return events.ClusterACLChanged{Entries: c.Entries}, nil
	}
	return nil, reject(events.CodeInternal, "%s is not a cluster command", cmd.Type)
}

func (s *State) busy() *Rejection {
	return reject(events.CodeBusy, "cluster %q is busy (%s); try again when the operation ends", s.Spec.Name, s.Phase)
}

// changeable refuses changes to a cluster that is missing, busy, or never came up.
func (s *State) changeable(verb string) error {
	switch {
	case !s.Exists || s.Deleted:
		return reject(events.CodeNotFound, "cluster %s does not exist", s.ID)
	case s.Busy():
		return s.busy()
	case s.Phase == events.PhaseCreateFailed, s.Phase == events.PhaseDeleteFailed:
		return reject(events.CodeInvalidChange, "cluster %q is %s and cannot be %s; delete it", s.Spec.Name, s.Phase, verb)
	}
	return nil
}

// Limits on what a tenant may ask for.
const (
	MaxWorkers    = 100
	MaxNameLength = 25
)

var nameRE = regexp.MustCompile(`^[a-zA-Z][A-Za-z0-9-]*$`)

// ValidateSpec checks a create request against the rules CSE applies to native clusters.
func ValidateSpec(s events.ClusterSpec) error {
	bad := func(field, format string, args ...any) error {
		r := reject(events.CodeInvalidChange, format, args...)
		r.Field = field
		return r
	}
	switch {
	case s.Name == "":
		return bad("name", "cluster name is missing")
	case len(s.Name) > MaxNameLength || !nameRE.MatchString(s.Name):
		return bad("name", "Invalid cluster name '%s': it must start with a letter, contain only letters, digits and hyphens, and be at most %d characters", s.Name, MaxNameLength)
	case s.OrgName == "":
		return bad("orgName", "organization name is missing")
	case s.VDC == "":
		return bad("vdc", "org VDC name is missing")
	case s.Network == "":
		return bad("network", "org VDC network is missing")
	case s.Template.Name == "":
		return bad("template.name", "template name is missing")
	case s.Template.Revision < 1:
		return bad("template.revision", "template revision must be 1 or more, not %d", s.Template.Revision)
	case s.ControlPlane.Count != 1:
		return bad("controlPlane.count", "native clusters have exactly one control plane node, not %d", s.ControlPlane.Count)
	case s.Workers.Count < 0 || s.Workers.Count > MaxWorkers:
		return bad("workers.count", "worker count must be between 0 and %d, not %d", MaxWorkers, s.Workers.Count)
	case s.NFS.Count < 0 || s.NFS.Count > MaxWorkers:
		return bad("nfs.count", "NFS node count must be between 0 and %d, not %d", MaxWorkers, s.NFS.Count)
	}
	return nil
}

// Change turns a tenant's full desired spec (CSE's "apply" of the whole entity) into the one
// command it amounts to. As in CSE, only the worker count, the NFS count (up) and the
// template may change after creation; a change to anything else is refused, naming each
// field the way CSE's payload names it, with the value found and the value expected.
func Change(current, desired events.ClusterSpec) (events.Payload, error) {
	var immutable []string
	var resize, upgrade bool
	for _, d := range diff(current, desired) {
		switch d.field {
		case "workers.count":
			resize = true
		case "nfs.count":
			if desired.NFS.Count < current.NFS.Count {
				return nil, reject(events.CodeInvalidChange, "Scaling down nfs nodes is not supported: delete NFS nodes one by one")
			}
			return nil, reject(events.CodeUnsupportedChange, "adding NFS nodes to an existing cluster is not supported yet")
		case "template.name", "template.revision":
			upgrade = true
		case "expose":
			return nil, reject(events.CodeUnsupportedChange, "settings.network.expose cannot be changed: exposing a cluster through an edge gateway is not supported yet")
		default:
			immutable = append(immutable, fmt.Sprintf("%s found : %v expected : %v", cseName(d.field), d.found, d.expected))
		}
	}
	switch {
	case len(immutable) > 0:
		return nil, reject(events.CodeInvalidChange, "Change detected in immutable field(s) [%s]; only topology.workers.count, topology.nfs.count and the distribution can change",
			strings.Join(immutable, ", "))
	case resize && upgrade:
		return nil, reject(events.CodeInvalidChange, "Cannot resize and upgrade the cluster at the same time")
	case resize:
		return events.ScaleWorkers{Workers: desired.Workers.Count}, nil
	case upgrade:
		return events.UpgradeTemplate{Template: desired.Template}, nil
	}
	return nil, reject(events.CodeInvalidChange, "nothing to change: the cluster already matches the requested specification")
}

type fieldDiff struct {
	field           string
	found, expected any
}

// diff lists the leaf fields that differ, by their JSON path in events.ClusterSpec. found is
// the requested value, expected the current one, as in CSE's message.
func diff(current, desired events.ClusterSpec) []fieldDiff {
	var out []fieldDiff
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		if a.Kind() == reflect.Struct {
			for i := range a.NumField() {
				walk(path+jsonName(a.Type().Field(i))+".", a.Field(i), b.Field(i))
			}
			return
		}
		if !reflect.DeepEqual(normalize(a.Interface()), normalize(b.Interface())) {
			out = append(out, fieldDiff{strings.TrimSuffix(path, "."), b.Interface(), a.Interface()})
		}
	}
	walk("", reflect.ValueOf(current), reflect.ValueOf(desired))
	return out
}

// cseNames maps ClusterSpec fields to the flattened names of CSE's v2.1 payload, which is
// what tenants write and read.
var cseNames = map[string]string{
	"name": "metadata.name", "orgName": "metadata.orgName", "vdc": "metadata.virtualDataCenterName", "site": "metadata.site",
	"template.name": "distribution.templateName", "template.revision": "distribution.templateRevision",
	"network": "settings.ovdcNetwork", "sshKey": "settings.sshKey", "rollbackOnFailure": "settings.rollbackOnFailure",
	"podCidrs": "settings.network.pods.cidrBlocks", "serviceCidrs": "settings.network.services.cidrBlocks",
	"cni.name": "settings.cni.name", "cni.version": "settings.cni.version", "memoryMb": "memory",
}

// CSEName returns the flattened CSE payload name of a ClusterSpec field path.
func CSEName(field string) string { return cseName(field) }

func cseName(field string) string {
	if n, ok := cseNames[field]; ok {
		return n
	}
	head, tail, _ := strings.Cut(field, ".")
	if n, ok := cseNames[tail]; ok {
		tail = n
	}
	switch head {
	case "controlPlane", "workers", "nfs":
		return "topology." + head + "." + tail
	}
	return field
}

// normalize treats nil and empty slices as equal, as JSON does.
func normalize(v any) any {
	if s, ok := v.([]string); ok && len(s) == 0 {
		return []string(nil)
	}
	return v
}

func jsonName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if tag == "" {
		return f.Name
	}
	return tag
}
