package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"
)

// Kind tells commands from events.
type Kind int

// Kinds of payload.
const (
	KindCommand Kind = iota + 1
	KindEvent
)

func (k Kind) String() string {
	switch k {
	case KindCommand:
		return "command"
	case KindEvent:
		return "event"
	}
	return "unknown"
}

// Upcaster turns the JSON of one schema version into the JSON of the next.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// typeInfo describes one registered payload type.
type typeInfo struct {
	kind    Kind
	version int
	goType  reflect.Type
	// upcast[v] turns version v into v+1.
	upcast map[int]Upcaster
}

// types is the fixed table of every payload kaas knows. It is built once and never changed:
// adding a type means adding a line here, changing one means a new version and an upcaster.
var types = buildTypes(
	reg(KindCommand, 1, CreateCluster{}),
	reg(KindCommand, 1, ScaleWorkers{}),
	reg(KindCommand, 1, UpgradeTemplate{}),
	reg(KindCommand, 1, DeleteCluster{}),
	reg(KindCommand, 1, ForceDeleteCluster{}),
	reg(KindCommand, 1, SetClusterACL{}),
	reg(KindCommand, 1, DeleteNFSNode{}),
	reg(KindCommand, 1, SyncCloud{}),
	reg(KindCommand, 1, SetVDCRuntimes{}),
	reg(KindCommand, 1, SetServiceState{}),

	reg(KindEvent, 1, ClusterCreationStarted{}),
	reg(KindEvent, 1, TemplateResolved{}),
	reg(KindEvent, 1, VAppCreated{}),
	reg(KindEvent, 1, NodeCreated{}),
	reg(KindEvent, 1, NodeStarted{}),
	reg(KindEvent, 1, ControlPlaneInitialized{}),
	reg(KindEvent, 1, NodeJoined{}),
	reg(KindEvent, 1, NodeReady{}),
	reg(KindEvent, 1, ClusterCreated{}),
	reg(KindEvent, 1, StepRetrying{}),
	reg(KindEvent, 1, OperationFailed{}),
	reg(KindEvent, 1, NodeDeleted{}),
	reg(KindEvent, 1, VAppDeleted{}),
	reg(KindEvent, 1, OperationRolledBack{}),
	reg(KindEvent, 1, WorkersScaleStarted{}),
	reg(KindEvent, 1, ClusterScaled{}),
	reg(KindEvent, 1, ClusterUpgradeStarted{}),
	reg(KindEvent, 1, NodeUpgradeRequested{}),
	reg(KindEvent, 1, NodeUpgraded{}),
	reg(KindEvent, 1, ClusterUpgraded{}),
	reg(KindEvent, 1, ClusterDeletionStarted{}),
	reg(KindEvent, 1, ClusterDeleted{}),
	reg(KindEvent, 1, CommandRejected{}),
	reg(KindEvent, 1, ClusterACLChanged{}),
	reg(KindEvent, 1, NFSNodeDeletionStarted{}),
	reg(KindEvent, 1, NFSNodeRemoved{}),
	reg(KindEvent, 1, CloudSynced{}),
	reg(KindEvent, 1, VDCRuntimesChanged{}),
	reg(KindEvent, 1, ServiceStateChanged{}),

	reg(KindCommand, 1, BuildTemplate{}),
	reg(KindCommand, 1, ImportTemplate{}),
	reg(KindCommand, 1, DeprecateTemplate{}),
	reg(KindCommand, 1, DeleteTemplate{}),
	reg(KindEvent, 1, TemplateBuildStarted{}),
	reg(KindEvent, 1, BaseImageReady{}),
	reg(KindEvent, 1, BuildVAppCreated{}),
	reg(KindEvent, 1, BuildVMCreated{}),
	reg(KindEvent, 1, BuildVMStarted{}),
	reg(KindEvent, 1, TemplateBuildProgressed{}),
	reg(KindEvent, 1, BuildCustomized{}),
	reg(KindEvent, 1, BuildVMStopped{}),
	reg(KindEvent, 1, TemplateCaptured{}),
	reg(KindEvent, 1, BuildVAppDeleted{}),
	reg(KindEvent, 1, TemplateBuilt{}),
	reg(KindEvent, 1, TemplateImportStarted{}),
	reg(KindEvent, 1, TemplateImported{}),
	reg(KindEvent, 1, TemplateDeprecated{}),
	reg(KindEvent, 1, TemplateDeletionStarted{}),
	reg(KindEvent, 1, TemplateDeleted{}),
)

type registration struct {
	name string
	info typeInfo
}

func reg(kind Kind, version int, p Payload, upcasters ...Upcaster) registration {
	up := make(map[int]Upcaster, len(upcasters))
	for i, u := range upcasters {
		up[i+1] = u
	}
	return registration{p.Type(), typeInfo{kind: kind, version: version, goType: reflect.TypeOf(p), upcast: up}}
}

func buildTypes(regs ...registration) map[string]typeInfo {
	m := make(map[string]typeInfo, len(regs))
	for _, r := range regs {
		if _, dup := m[r.name]; dup {
			panic("events: type registered twice: " + r.name)
		}
		if len(r.info.upcast) != r.info.version-1 {
			panic(fmt.Sprintf("events: %s is at version %d but has %d upcasters", r.name, r.info.version, len(r.info.upcast)))
		}
		m[r.name] = r.info
	}
	return m
}

// Errors returned by the codec.
var (
	// ErrUnknownType means the envelope names a type this kaas does not know.
	ErrUnknownType = errors.New("unknown type")
	// ErrMalformed means the bytes are not a valid envelope.
	ErrMalformed = errors.New("malformed envelope")
)

// KindOf returns whether the type name is a command or an event, or 0 if it is unknown.
func KindOf(typeName string) Kind { return types[typeName].kind }

// SchemaVersion returns the current schema version of a type, or 0 if it is unknown.
func SchemaVersion(typeName string) int { return types[typeName].version }

// TypeNames returns every registered type name of the kind, sorted.
func TypeNames(kind Kind) []string {
	var names []string
	for n, t := range types {
		if t.kind == kind {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// New returns a zero payload of the named type.
func New(typeName string) (Payload, error) {
	t, ok := types[typeName]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, typeName)
	}
	return reflect.New(t.goType).Elem().Interface().(Payload), nil
}

// wire is the JSON form of an envelope.
type wire struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	ClusterID     string          `json:"clusterId"`
	OrgID         string          `json:"orgId,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	Time          time.Time       `json:"time"`
	CausationID   string          `json:"causationId,omitempty"`
	CorrelationID string          `json:"correlationId,omitempty"`
	PrevHash      string          `json:"prevHash,omitempty"`
	Data          json.RawMessage `json:"data"`
}

// Marshal encodes an envelope as JSON. It fills Type and SchemaVersion from the payload and
// refuses payloads that are not registered.
func Marshal(e Envelope) ([]byte, error) {
	if e.Payload == nil {
		return nil, fmt.Errorf("%w: no payload", ErrMalformed)
	}
	name := e.Payload.Type()
	t, ok := types[name]
	if !ok || t.goType != reflect.TypeOf(e.Payload) {
		return nil, fmt.Errorf("%w %q (%T)", ErrUnknownType, name, e.Payload)
	}
	if e.ID == "" || e.ClusterID == "" {
		return nil, fmt.Errorf("%w: %s needs an id and a cluster id", ErrMalformed, name)
	}
	b, err := json.Marshal(wireOut{
		ID: e.ID, Type: name, SchemaVersion: t.version, ClusterID: e.ClusterID, OrgID: e.OrgID,
		Actor: e.Actor, Time: e.Time.UTC(), CausationID: e.CausationID, CorrelationID: e.CorrelationID,
		PrevHash: e.PrevHash, Data: e.Payload,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return b, nil
}

// wireOut is wire for encoding: the payload is encoded in place, in one pass.
type wireOut struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	SchemaVersion int       `json:"schemaVersion"`
	ClusterID     string    `json:"clusterId"`
	OrgID         string    `json:"orgId,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	Time          time.Time `json:"time"`
	CausationID   string    `json:"causationId,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	PrevHash      string    `json:"prevHash,omitempty"`
	Data          Payload   `json:"data"`
}

// Unmarshal decodes an envelope, upcasting older schema versions to the current one. A type
// that is not registered fails with ErrUnknownType; a version newer than this kaas knows
// fails too, rather than being misread.
func Unmarshal(b []byte) (Envelope, error) {
	if e, ok := unmarshalFast(b); ok {
		return e, nil
	}
	return unmarshal(b)
}

// unmarshal is Unmarshal's general path: any field order, older versions upcast, and the
// errors that say what is wrong.
func unmarshal(b []byte) (Envelope, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Type == "" {
		return Envelope{}, fmt.Errorf("%w: no type", ErrMalformed)
	}
	t, ok := types[w.Type]
	if !ok {
		return Envelope{}, fmt.Errorf("%w %q", ErrUnknownType, w.Type)
	}
	if w.ID == "" || w.ClusterID == "" {
		return Envelope{}, fmt.Errorf("%w: %s %q lacks an id or a cluster id", ErrMalformed, w.Type, w.ID)
	}
	v := w.SchemaVersion
	if v == 0 {
		v = 1
	}
	if v > t.version {
		return Envelope{}, fmt.Errorf("%w: %s schema version %d is newer than this kaas understands (%d)", ErrMalformed, w.Type, v, t.version)
	}
	data := w.Data
	for ; v < t.version; v++ {
		var err error
		if data, err = t.upcast[v](data); err != nil {
			return Envelope{}, fmt.Errorf("upcast %s from version %d: %w", w.Type, v, err)
		}
	}
	ptr := reflect.New(t.goType)
	if len(bytes.TrimSpace(data)) > 0 && !bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		if err := json.Unmarshal(data, ptr.Interface()); err != nil {
			return Envelope{}, fmt.Errorf("%w: %s data: %v", ErrMalformed, w.Type, err)
		}
	}
	return Envelope{
		ID: w.ID, Type: w.Type, SchemaVersion: t.version, ClusterID: w.ClusterID, OrgID: w.OrgID,
		Actor: w.Actor, Time: w.Time, CausationID: w.CausationID, CorrelationID: w.CorrelationID,
		PrevHash: w.PrevHash, Payload: ptr.Elem().Interface().(Payload),
	}, nil
}
