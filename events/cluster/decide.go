package cluster

import (
	"errors"
	"fmt"
	"reflect"
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
		if r := vcdName("template.name", "template name", c.Template.Name, true); r != nil {
			return nil, r
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

// Change turns a tenant's full desired spec (CSE's "apply" of the whole entity) into the one
// command it amounts to. As in CSE, only the worker count, the NFS count (up) and the
// template may change after creation; a change to anything else is refused, naming each
// field the way CSE's payload names it, with the value found and the value expected.
// A change that may go ahead is first checked as a create is, so that no value slips
// through; values that did not change are left alone, so that a cluster created under
// older rules can still be scaled and upgraded.
func Change(current, desired events.ClusterSpec) (events.Payload, error) {
	diffs := diff(current, desired)
	var immutable []string
	var resize, upgrade bool
	for _, d := range diffs {
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
			immutable = append(immutable, fmt.Sprintf("%s found : %s expected : %s", cseName(d.field), shownValue(d.found), shownValue(d.expected)))
		}
	}
	if len(immutable) > 0 {
		return nil, reject(events.CodeInvalidChange, "Change detected in immutable field(s) [%s]; only topology.workers.count, topology.nfs.count and the distribution can change",
			strings.Join(immutable, ", "))
	}
	for _, p := range problems(desired, false) {
		blamed, _, _ := strings.Cut(p.Field, "[")
		for _, d := range diffs {
			if d.field == blamed || strings.HasPrefix(d.field, blamed+".") {
				return nil, p
			}
		}
	}
	switch {
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
	"expose": "settings.network.expose",
}

// CSEName returns the path in CSE's v2.1 payload of a ClusterSpec field path, as a
// Rejection names it: metadata.name, spec.settings.sshKey,
// spec.settings.network.pods.cidrBlocks[0], spec.topology.controlPlane.cpu.
func CSEName(field string) string {
	base, index, _ := strings.Cut(field, "[")
	if index != "" {
		index = "[" + index
	}
	name := cseName(base)
	if !strings.HasPrefix(name, "metadata.") {
		name = "spec." + name
	}
	return name + index
}

// cseName is the flattened name CSE's messages use, without spec.
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
		if tail == "" {
			return "topology." + head
		}
		return "topology." + head + "." + tail
	}
	return field
}

// shownValue renders a value for CSE's immutable-field message, a tenant's string escaped
// so that it cannot break the line.
func shownValue(v any) string {
	switch v := v.(type) {
	case string:
		return escaped(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = escaped(s)
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	return fmt.Sprint(v)
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
