package vcdsim

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Runtime Defined Entities as VCD serves them (cse-rde.md §1.2, §1.3, §1.5, §3.7): interfaces
// with behaviors, entity types with hooks, behavior overrides and access controls, entities
// with ETags, resolution against the type's schema, access controls, and VCD's visibility
// rules. Behaviors and hooks are stored, never executed: whoever plays CSE's server moves
// the entities itself.

// rdeState is the simulator's defined-entity and rights store, guarded by Server.mu.
type rdeState struct {
	interfaces []*rdeInterface
	types      []*rdeType
	entities   []*rdeEntity // in creation order
	rights     []*right
	bundles    []*bundle
}

// builtinInterface is the interface VCD ships and CSE requires (cse-rde.md §1.1).
const builtinInterface = "urn:vcloud:interface:vmware:k8s:1.0.0"

func newRDEState() *rdeState {
	st := &rdeState{}
	k8s := &rdeInterface{ID: builtinInterface, Name: "Kubernetes", Vendor: "vmware", Nss: "k8s", Version: "1.0.0", ReadOnly: true}
	k8s.behaviors = []*behavior{{ID: "urn:vcloud:behavior-interface:createKubeConfig:vmware:k8s:1.0.0", Name: "createKubeConfig",
		Ref: "urn:vcloud:behavior-interface:createKubeConfig:vmware:k8s:1.0.0", Description: "Creates and returns a kubeconfig",
		Execution: map[string]any{"id": "CreateKubeConfigActivity", "type": "Activity"}}}
	st.interfaces = append(st.interfaces, k8s)
	st.seedRights()
	return st
}

// Access levels of access controls, lowest first.
type level int

const (
	levelNone level = iota
	levelRead
	levelWrite
	levelFull
)

const accessLevelPrefix = "urn:vcloud:accessLevel:"

var accessLevels = map[string]level{
	accessLevelPrefix + "ReadOnly": levelRead, accessLevelPrefix + "ReadWrite": levelWrite, accessLevelPrefix + "FullControl": levelFull,
}

const grantMembership = "MembershipAccessControlGrant"

type rdeInterface struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Vendor   string `json:"vendor"`
	Nss      string `json:"nss"`
	ReadOnly bool   `json:"readonly"`

	behaviors []*behavior
}

type behavior struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Ref         string `json:"ref"`
	Description string `json:"description,omitempty"`
	Execution   any    `json:"execution"`
}

type behaviorAccess struct {
	BehaviorID    string `json:"behaviorId"`
	AccessLevelID string `json:"accessLevelId"`
}

// rdeType is an entity type; its JSON is what /entityTypes serves.
type rdeType struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Nss              string            `json:"nss"`
	Version          string            `json:"version"`
	Vendor           string            `json:"vendor"`
	ExternalID       *string           `json:"externalId"`
	Schema           map[string]any    `json:"schema"`
	Interfaces       []string          `json:"interfaces"`
	Hooks            map[string]string `json:"hooks,omitempty"`
	ReadOnly         bool              `json:"readonly"`
	MaxImplicitRight string            `json:"maxImplicitRight,omitempty"`

	overrides   map[string]*behavior // by the id of the interface behavior they override
	behaviorACL []behaviorAccess
	acl         []*accessControl // the type's own (CSE grants the System org ReadWrite)
}

// rightName is the name of one of the type's five rights.
func (t *rdeType) rightName(suffix string) string { return t.Vendor + ":" + t.Nss + ": " + suffix }

// accessControl is an access-control grant on an entity or a type.
type accessControl struct {
	ID            string `json:"id"`
	Tenant        apiRef `json:"tenant"`
	GrantType     string `json:"grantType"`
	ObjectID      string `json:"objectId"`
	AccessLevelID string `json:"accessLevelId"`
	MemberID      string `json:"memberId"`
}

type rdeEntity struct {
	id, name   string
	typ        *rdeType
	externalID *string
	content    map[string]any
	state      string
	ownerID    string
	ownerName  string
	org        *org
	etag       string
	acl        []*accessControl
}

// entityJSON is an entity as /entities serves it.
type entityJSON struct {
	ID         string         `json:"id"`
	EntityType string         `json:"entityType"`
	Name       string         `json:"name"`
	ExternalID *string        `json:"externalId"`
	Entity     map[string]any `json:"entity"`
	State      string         `json:"state"`
	Owner      apiRef         `json:"owner"`
	Org        apiRef         `json:"org"`
}

func (e *rdeEntity) json() entityJSON {
	return entityJSON{ID: e.id, EntityType: e.typ.ID, Name: e.name, ExternalID: e.externalID, Entity: e.content, State: e.state,
		Owner: apiRef{Name: e.ownerName, ID: e.ownerID}, Org: apiRef{Name: e.org.name, ID: orgURN(e.org)}}
}

// Entity states.
const (
	statePreCreated      = "PRE_CREATED"
	stateResolved        = "RESOLVED"
	stateResolutionError = "RESOLUTION_ERROR"
)

func newETag() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	return `"` + hex.EncodeToString(b) + `"`
}

var (
	namePartRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	versionRE  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

func checkVNV(vendor, nss, version string) *vcdError {
	if !namePartRE.MatchString(vendor) || !namePartRE.MatchString(nss) || !versionRE.MatchString(version) {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "vendor %q, nss %q and version %q must be names and a semantic version.", vendor, nss, version)
	}
	return nil
}

func (st *rdeState) iface(id string) *rdeInterface {
	for _, i := range st.interfaces {
		if strings.EqualFold(i.ID, id) {
			return i
		}
	}
	return nil
}

func (st *rdeState) typ(id string) *rdeType {
	for _, t := range st.types {
		if strings.EqualFold(t.ID, id) {
			return t
		}
	}
	return nil
}

func (st *rdeState) entity(id string) *rdeEntity {
	for _, e := range st.entities {
		if strings.EqualFold(e.id, id) {
			return e
		}
	}
	return nil
}

func notExist(kind, id string) *vcdError {
	return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "%s [ %s ] does not exist.", kind, id)
}

// ---- interfaces and their behaviors ----

func (s *Server) interfacesRoute(c *apiCall) *vcdError {
	st := s.rde
	switch {
	case c.is(http.MethodGet, 1):
		return writePage(c, st.interfaces)
	case c.is(http.MethodPost, 1):
		if err := systemOnly(c); err != nil {
			return err
		}
		var in rdeInterface
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		if err := checkVNV(in.Vendor, in.Nss, in.Version); err != nil {
			return err
		}
		id := fmt.Sprintf("urn:vcloud:interface:%s:%s:%s", in.Vendor, in.Nss, in.Version)
		if in.ID != "" && !strings.EqualFold(in.ID, id) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The interface id %q does not match its vendor, nss and version (%s).", in.ID, id)
		}
		if in.Name == "" {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "An interface needs a name.")
		}
		if st.iface(id) != nil {
			return errf(http.StatusBadRequest, "DUPLICATE_ENTITY", "The interface %s already exists.", id)
		}
		i := &rdeInterface{ID: id, Name: in.Name, Vendor: in.Vendor, Nss: in.Nss, Version: in.Version, ReadOnly: in.ReadOnly}
		st.interfaces = append(st.interfaces, i)
		writeJSON(c.w, http.StatusCreated, i)
		return nil
	}
	i := st.iface(c.at(1))
	if i == nil {
		return notExist("Interface", c.at(1))
	}
	switch {
	case c.is(http.MethodGet, 2):
		writeJSON(c.w, http.StatusOK, i)
		return nil
	case c.is(http.MethodDelete, 2):
		if err := systemOnly(c); err != nil {
			return err
		}
		for _, t := range st.types {
			if slices.ContainsFunc(t.Interfaces, func(id string) bool { return strings.EqualFold(id, i.ID) }) {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "The interface %s is used by the entity type %s.", i.ID, t.ID)
			}
		}
		if i.ID == builtinInterface {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The interface %s is built in.", i.ID)
		}
		st.interfaces = slices.DeleteFunc(st.interfaces, func(x *rdeInterface) bool { return x == i })
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	case c.at(2) == "behaviors" && s.behaviorsAPI:
		return s.interfaceBehaviors(c, i)
	}
	return notFoundPath(c)
}

func (i *rdeInterface) behavior(id string) *behavior {
	for _, b := range i.behaviors {
		if strings.EqualFold(b.ID, id) {
			return b
		}
	}
	return nil
}

func (s *Server) interfaceBehaviors(c *apiCall, i *rdeInterface) *vcdError {
	if c.r.Method != http.MethodGet {
		if err := systemOnly(c); err != nil {
			return err
		}
	}
	switch {
	case c.is(http.MethodGet, 3):
		return writePage(c, i.behaviors)
	case c.is(http.MethodPost, 3):
		var in behavior
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		if !namePartRE.MatchString(in.Name) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "A behavior needs a name of letters and digits, not %q.", in.Name)
		}
		id := fmt.Sprintf("urn:vcloud:behavior-interface:%s:%s:%s:%s", in.Name, i.Vendor, i.Nss, i.Version)
		if i.behavior(id) != nil {
			return errf(http.StatusBadRequest, "DUPLICATE_ENTITY", "The behavior %s already exists.", id)
		}
		b := &behavior{ID: id, Name: in.Name, Ref: id, Description: in.Description, Execution: in.Execution}
		i.behaviors = append(i.behaviors, b)
		writeJSON(c.w, http.StatusCreated, b)
		return nil
	}
	b := i.behavior(c.at(3))
	if b == nil || len(c.t) != 4 {
		return notExist("Behavior", c.at(3))
	}
	switch c.r.Method {
	case http.MethodGet:
		writeJSON(c.w, http.StatusOK, b)
	case http.MethodPut:
		var in behavior
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		b.Description, b.Execution = in.Description, in.Execution
		writeJSON(c.w, http.StatusOK, b)
	case http.MethodDelete:
		i.behaviors = slices.DeleteFunc(i.behaviors, func(x *behavior) bool { return x == b })
		c.w.WriteHeader(http.StatusNoContent)
	default:
		return notFoundPath(c)
	}
	return nil
}

// ---- entity types ----

func (s *Server) entityTypesRoute(c *apiCall) *vcdError {
	st := s.rde
	switch {
	case c.is(http.MethodGet, 1):
		return writePage(c, st.types)
	case c.is(http.MethodPost, 1):
		if err := systemOnly(c); err != nil {
			return err
		}
		var in rdeType
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		return s.createType(c, &in)
	}
	t := st.typ(c.at(1))
	if t == nil {
		if c.is(http.MethodPost, 2) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The entity type %s does not exist.", c.at(1))
		}
		return notExist("Entity type", c.at(1))
	}
	switch {
	case c.is(http.MethodGet, 2):
		writeJSON(c.w, http.StatusOK, t)
	case c.is(http.MethodPut, 2):
		if err := systemOnly(c); err != nil {
			return err
		}
		var in rdeType
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		return s.updateType(c, t, &in)
	case c.is(http.MethodDelete, 2):
		if err := systemOnly(c); err != nil {
			return err
		}
		if slices.ContainsFunc(st.entities, func(e *rdeEntity) bool { return e.typ == t }) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The entity type %s has entities.", t.ID)
		}
		st.types = slices.DeleteFunc(st.types, func(x *rdeType) bool { return x == t })
		c.w.WriteHeader(http.StatusNoContent)
	case c.is(http.MethodPost, 2):
		return s.createEntity(c, t)
	case c.at(2) == "behaviors" && s.behaviorsAPI:
		return s.typeBehaviors(c, t)
	case c.at(2) == "behaviorAccessControls" && len(c.t) == 3 && s.behaviorsAPI:
		return s.behaviorACL(c, t)
	default:
		return notFoundPath(c)
	}
	return nil
}

// checkTypeBody checks what a type's POST or PUT may say.
func (s *Server) checkTypeBody(in *rdeType) *vcdError {
	if in.Name == "" {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "An entity type needs a name.")
	}
	if in.Schema == nil {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "An entity type needs a JSON schema.")
	}
	if len(in.Hooks) > 0 && !s.behaviorsAPI {
		// VCD 10.2 (API 35) has no behaviors: its entity type has no hooks field.
		return errf(http.StatusBadRequest, "BAD_REQUEST", "Unrecognized field \"hooks\": entity type hooks need API 36.0.")
	}
	for _, id := range in.Interfaces {
		if s.rde.iface(id) == nil {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The interface %s does not exist.", id)
		}
	}
	if in.MaxImplicitRight != "" {
		if _, ok := accessLevels[in.MaxImplicitRight]; !ok {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "maxImplicitRight %q is not an access level.", in.MaxImplicitRight)
		}
	}
	return nil
}

// createType registers an entity type and, once per vendor:nss, its rights bundle.
func (s *Server) createType(c *apiCall, in *rdeType) *vcdError {
	if err := checkVNV(in.Vendor, in.Nss, in.Version); err != nil {
		return err
	}
	id := fmt.Sprintf("urn:vcloud:type:%s:%s:%s", in.Vendor, in.Nss, in.Version)
	if in.ID != "" && !strings.EqualFold(in.ID, id) {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The entity type id %q does not match its vendor, nss and version (%s).", in.ID, id)
	}
	if err := s.checkTypeBody(in); err != nil {
		return err
	}
	if s.rde.typ(id) != nil {
		return errf(http.StatusBadRequest, "DUPLICATE_ENTITY", "The entity type %s already exists.", id)
	}
	t := &rdeType{ID: id, Name: in.Name, Description: in.Description, Vendor: in.Vendor, Nss: in.Nss, Version: in.Version,
		ExternalID: in.ExternalID, Schema: in.Schema, Interfaces: append([]string{}, in.Interfaces...), Hooks: in.Hooks,
		ReadOnly: in.ReadOnly, MaxImplicitRight: in.MaxImplicitRight, overrides: map[string]*behavior{}}
	s.rde.types = append(s.rde.types, t)
	s.rde.ensureTypeRights(t.Vendor, t.Nss)
	writeJSON(c.w, http.StatusCreated, t)
	return nil
}

// updateType replaces what a type's PUT may change; vendor, nss and version stay.
func (s *Server) updateType(c *apiCall, t *rdeType, in *rdeType) *vcdError {
	if in.ID != "" && !strings.EqualFold(in.ID, t.ID) {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The body's id %q is not %s.", in.ID, t.ID)
	}
	if (in.Vendor != "" && in.Vendor != t.Vendor) || (in.Nss != "" && in.Nss != t.Nss) || (in.Version != "" && in.Version != t.Version) {
		return errf(http.StatusBadRequest, "BAD_REQUEST", "The vendor, nss and version of %s cannot change.", t.ID)
	}
	if err := s.checkTypeBody(in); err != nil {
		return err
	}
	t.Name, t.Description, t.ExternalID, t.Schema, t.ReadOnly = in.Name, in.Description, in.ExternalID, in.Schema, in.ReadOnly
	if in.Interfaces != nil {
		t.Interfaces = append([]string{}, in.Interfaces...)
	}
	if in.Hooks != nil {
		t.Hooks = in.Hooks
	}
	if in.MaxImplicitRight != "" {
		t.MaxImplicitRight = in.MaxImplicitRight
	}
	writeJSON(c.w, http.StatusOK, t)
	return nil
}

// behaviors are a type's behaviors: those of its interfaces, each replaced by the type's
// override when it has one.
func (s *Server) behaviors(t *rdeType) []*behavior {
	var out []*behavior
	for _, id := range t.Interfaces {
		i := s.rde.iface(id)
		if i == nil {
			continue
		}
		for _, b := range i.behaviors {
			if o := t.overrides[b.ID]; o != nil {
				out = append(out, o)
			} else {
				out = append(out, b)
			}
		}
	}
	return out
}

// scoped finds the interface behavior a type's behavior id names (its own id, or its
// override's).
func (s *Server) scoped(t *rdeType, id string) (*behavior, *vcdError) {
	for _, iid := range t.Interfaces {
		if i := s.rde.iface(iid); i != nil {
			for _, b := range i.behaviors {
				if o := t.overrides[b.ID]; strings.EqualFold(b.ID, id) || o != nil && strings.EqualFold(o.ID, id) {
					return b, nil
				}
			}
		}
	}
	return nil, errf(http.StatusBadRequest, "RDE_INVALID_BEHAVIOR_SCOPE", "The behavior %s is not a behavior of the entity type %s.", id, t.ID)
}

func (s *Server) typeBehaviors(c *apiCall, t *rdeType) *vcdError {
	if c.is(http.MethodGet, 3) {
		return writePage(c, s.behaviors(t))
	}
	if len(c.t) != 4 {
		return notFoundPath(c)
	}
	b, err := s.scoped(t, c.at(3))
	if err != nil {
		return err
	}
	switch c.r.Method {
	case http.MethodGet:
		if o := t.overrides[b.ID]; o != nil {
			b = o
		}
		writeJSON(c.w, http.StatusOK, b)
	case http.MethodPut:
		if err := systemOnly(c); err != nil {
			return err
		}
		var in behavior
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		// VCD names the override after the type and the interface: behavior-type:<name>:<type vnv>:<interface vnv>.
		ivnv := strings.TrimPrefix(b.ID, "urn:vcloud:behavior-interface:"+b.Name+":")
		o := &behavior{ID: fmt.Sprintf("urn:vcloud:behavior-type:%s:%s:%s:%s:%s", b.Name, t.Vendor, t.Nss, t.Version, ivnv),
			Name: b.Name, Ref: b.ID, Description: in.Description, Execution: in.Execution}
		if o.Description == "" {
			o.Description = b.Description
		}
		t.overrides[b.ID] = o
		writeJSON(c.w, http.StatusOK, o)
	case http.MethodDelete:
		if err := systemOnly(c); err != nil {
			return err
		}
		delete(t.overrides, b.ID)
		c.w.WriteHeader(http.StatusNoContent)
	default:
		return notFoundPath(c)
	}
	return nil
}

func (s *Server) behaviorACL(c *apiCall, t *rdeType) *vcdError {
	switch c.r.Method {
	case http.MethodGet:
		return writePage(c, t.behaviorACL)
	case http.MethodPut:
		if err := systemOnly(c); err != nil {
			return err
		}
		var in struct {
			Values []behaviorAccess `json:"values"`
		}
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		for _, a := range in.Values {
			if _, err := s.scoped(t, a.BehaviorID); err != nil {
				return err
			}
			if _, ok := accessLevels[a.AccessLevelID]; !ok {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "%q is not an access level.", a.AccessLevelID)
			}
		}
		t.behaviorACL = append([]behaviorAccess{}, in.Values...)
		return writePage(c, t.behaviorACL)
	}
	return notFoundPath(c)
}

// ---- entities ----

func (s *Server) entitiesRoute(c *apiCall) *vcdError {
	id := c.at(1)
	switch {
	case (id == "types" || id == "interfaces") && c.is(http.MethodGet, 5):
		return s.listEntities(c, id == "interfaces", fmt.Sprintf("%s:%s:%s", c.at(2), c.at(3), c.at(4)))
	case strings.HasPrefix(strings.ToLower(id), "urn:vcloud:type:") && c.at(2) == "accessControls":
		return s.typeACL(c)
	case len(c.t) == 2:
		switch c.r.Method {
		case http.MethodGet:
			e, err := s.entityFor(c, id, levelRead)
			if err != nil {
				return err
			}
			c.w.Header().Set("ETag", e.etag)
			writeJSON(c.w, http.StatusOK, e.json())
			return nil
		case http.MethodPut:
			return s.updateEntity(c, id)
		case http.MethodDelete:
			e, err := s.entityFor(c, id, levelFull)
			if err != nil {
				return err
			}
			if e.state == statePreCreated {
				return errf(http.StatusBadRequest, "RDE_ENTITY_NOT_RESOLVED", "The entity %s must be resolved before it is deleted.", e.id)
			}
			s.rde.entities = slices.DeleteFunc(s.rde.entities, func(x *rdeEntity) bool { return x == e })
			c.w.WriteHeader(http.StatusNoContent)
			return nil
		}
	case c.is(http.MethodPost, 3) && c.at(2) == "resolve":
		return s.resolveEntity(c, id)
	case c.at(2) == "accessControls" && (len(c.t) == 3 || len(c.t) == 4):
		return s.entityACL(c, id)
	}
	return notFoundPath(c)
}

// levelOn is what a session may do with an entity, mirroring kaas's matrix
// (events/cluster): the System org may do everything; a tenant nothing outside its org; in
// its org, the type's Administrator rights give their level on every entity, and otherwise
// ownership (FullControl) or an access control naming the user or its org gives at most
// what the type's View / Modify / Full Access right allows.
func (s *Server) levelOn(sess *session, e *rdeEntity) level {
	if sess.org.system() {
		return levelFull
	}
	if e.org != sess.org {
		return levelNone
	}
	t := e.typ
	own, all := levelNone, levelNone
	switch {
	case s.holds(sess, t.rightName("Administrator Full access")):
		return levelFull
	case s.holds(sess, t.rightName("Full Access")):
		own = levelFull
	case s.holds(sess, t.rightName("Modify")):
		own = levelWrite
	case s.holds(sess, t.rightName("View")):
		own = levelRead
	}
	if s.holds(sess, t.rightName("Administrator View")) {
		all = levelRead
	}
	rel := levelNone
	if strings.EqualFold(e.ownerID, sess.userID) {
		rel = levelFull
	} else {
		for _, a := range e.acl {
			if strings.EqualFold(a.MemberID, sess.userID) || strings.EqualFold(a.MemberID, orgURN(sess.org)) {
				rel = max(rel, accessLevels[a.AccessLevelID])
			}
		}
	}
	return max(all, min(own, rel))
}

// entityFor finds an entity the caller may act on at a level; one it may not see does not
// exist for it.
func (s *Server) entityFor(c *apiCall, id string, need level) (*rdeEntity, *vcdError) {
	e := s.rde.entity(id)
	if e == nil {
		return nil, notExist("Entity", id)
	}
	got := s.levelOn(c.sess, e)
	switch {
	case got == levelNone:
		return nil, notExist("Entity", id)
	case got < need:
		return nil, forbiddenRights(map[level]string{levelWrite: e.typ.rightName("Modify"), levelFull: e.typ.rightName("Full Access")}[need])
	}
	return e, nil
}

// listEntities serves GET /entities/types/{vendor}/{nss}/{version} and
// /entities/interfaces/{vendor}/{nss}/{version}: the entities of that type (or of the types
// implementing that interface) the caller may see. An unknown type is an empty page.
func (s *Server) listEntities(c *apiCall, byInterface bool, vnv string) *vcdError {
	scope, err := s.scope(c)
	if err != nil {
		return err
	}
	var out []entityJSON
	for _, e := range s.rde.entities {
		if byInterface {
			if !slices.ContainsFunc(e.typ.Interfaces, func(id string) bool { return strings.EqualFold(id, "urn:vcloud:interface:"+vnv) }) {
				continue
			}
		} else if !strings.EqualFold(e.typ.ID, "urn:vcloud:type:"+vnv) {
			continue
		}
		if scope != nil && e.org != scope || s.levelOn(c.sess, e) == levelNone {
			continue
		}
		out = append(out, e.json())
	}
	return writePage(c, out)
}

// entityBody is what a POST or PUT of an entity may say.
type entityBody struct {
	Name       string         `json:"name"`
	ExternalID *string        `json:"externalId"`
	Entity     map[string]any `json:"entity"`
	Owner      *apiRef        `json:"owner"`
}

func readEntity(c *apiCall) (*entityBody, *vcdError) {
	var in entityBody
	if err := readJSON(c.r, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "An entity needs a name.")
	}
	if in.Entity == nil {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "An entity needs its JSON content (entity).")
	}
	return &in, nil
}

// owner resolves the owner a body names: only a System-org caller may name another user
// than itself, and the owner must be a user of the entity's org.
func (s *Server) owner(c *apiCall, in *apiRef, o *org, current string) (id, name string, err *vcdError) {
	if in == nil || in.ID == "" || strings.EqualFold(in.ID, current) {
		return "", "", nil
	}
	if !c.sess.org.system() {
		if strings.EqualFold(in.ID, c.sess.userID) {
			return c.sess.userID, c.sess.user.Name, nil
		}
		return "", "", errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Only a provider may make another user an entity's owner.")
	}
	uo, u := s.userByURN(in.ID)
	if u == nil || uo != o {
		return "", "", errf(http.StatusBadRequest, "BAD_REQUEST", "The owner %s is not a user of the organization %s.", in.ID, o.name)
	}
	return userURN(uo, u.Name), u.Name, nil
}

// createEntity serves POST /entityTypes/{typeId}: the entity is made PRE_CREATED, owned by
// the caller (or the user of that org a provider names in owner.id) in the caller's org (or
// a provider's tenant context), and the answer is 202 with the Location of a task whose Owner is the entity.
func (s *Server) createEntity(c *apiCall, t *rdeType) *vcdError {
	if !c.sess.org.system() && !s.holds(c.sess, t.rightName("Full Access")) && !s.holds(c.sess, t.rightName("Administrator Full access")) {
		return forbiddenRights(t.rightName("Full Access"))
	}
	o, err := s.actingOrg(c)
	if err != nil {
		return err
	}
	in, err := readEntity(c)
	if err != nil {
		return err
	}
	e := &rdeEntity{id: fmt.Sprintf("urn:vcloud:entity:%s:%s:%s", t.Vendor, t.Nss, uuid.NewString()), name: in.Name, typ: t,
		externalID: in.ExternalID, content: in.Entity, state: statePreCreated, org: o, etag: newETag()}
	e.ownerID, e.ownerName, err = s.owner(c, in.Owner, o, "")
	if err != nil {
		return err
	}
	if e.ownerID == "" {
		// A provider acting in a tenant's context owns what it makes there.
		e.ownerID, e.ownerName = c.sess.userID, c.sess.user.Name
	}
	s.rde.entities = append(s.rde.entities, e)
	now := time.Now()
	tk := &task{id: uuid.NewString(), op: "rdeCreateEntity", operation: fmt.Sprintf("Created entity %s (%s)", e.name, e.id),
		ownerHREF: s.base + cloudapiPrefix + "entities/" + e.id, ownerName: e.name, ownerType: "application/json",
		start: now, end: now.Add(s.taskDelay())}
	// The task is the caller's, in the entity's org.
	s.stamp(tk, subject{caller: c.sess})
	tk.ownerID, tk.org = e.id, e.org
	s.tasks[tk.id] = tk
	c.w.Header().Set("Location", s.href("task/"+tk.id))
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

// etagMatches compares an If-Match header with an entity's ETag; * matches any.
func etagMatches(h, etag string) bool {
	for _, v := range strings.Split(h, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || strings.Trim(v, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

// updateEntity serves PUT /entities/{id}: the body replaces the name, externalId and
// content; If-Match, when sent, must be the entity's ETag. A RESOLVED entity stays valid.
func (s *Server) updateEntity(c *apiCall, id string) *vcdError {
	e, err := s.entityFor(c, id, levelWrite)
	if err != nil {
		return err
	}
	if h := c.r.Header.Get("If-Match"); h != "" && !etagMatches(h, e.etag) {
		return errf(http.StatusPreconditionFailed, "PRECONDITION_FAILED", "The entity %s was changed since it was read: If-Match %s is not its ETag.", e.id, h)
	}
	in, err := readEntity(c)
	if err != nil {
		return err
	}
	ownerID, ownerName, err := s.owner(c, in.Owner, e.org, e.ownerID)
	if err != nil {
		return err
	}
	if e.state == stateResolved {
		if missing := missingRequired(e.typ.Schema, in.Entity); len(missing) > 0 {
			return errf(http.StatusBadRequest, "RDE_ENTITY_VALIDATION_FAILED", "%s", resolutionMessage(e.typ, missing))
		}
	}
	e.name, e.externalID, e.content = in.Name, in.ExternalID, in.Entity
	if ownerID != "" {
		e.ownerID, e.ownerName = ownerID, ownerName
	}
	e.etag = newETag()
	c.w.Header().Set("ETag", e.etag)
	writeJSON(c.w, http.StatusOK, e.json())
	return nil
}

// resolveEntity serves POST /entities/{id}/resolve: RESOLVED when the content has every
// property the type's schema requires, else RESOLUTION_ERROR with a message saying which
// are missing.
func (s *Server) resolveEntity(c *apiCall, id string) *vcdError {
	e, err := s.entityFor(c, id, levelWrite)
	if err != nil {
		return err
	}
	var msg *string
	if missing := missingRequired(e.typ.Schema, e.content); len(missing) > 0 {
		m := resolutionMessage(e.typ, missing)
		e.state, msg = stateResolutionError, &m
	} else {
		e.state = stateResolved
	}
	e.etag = newETag()
	c.w.Header().Set("ETag", e.etag)
	writeJSON(c.w, http.StatusOK, struct {
		entityJSON
		Message *string `json:"message"`
	}{e.json(), msg})
	return nil
}

func resolutionMessage(t *rdeType, missing []string) string {
	return fmt.Sprintf("The entity does not match the schema of %s: required properties missing: %s", t.ID, strings.Join(missing, ", "))
}

// missingRequired walks a JSON schema's required properties (through properties, items and
// local $refs) and returns the dotted paths of those the value lacks.
func missingRequired(schema map[string]any, v any) []string {
	var out []string
	var walk func(sch map[string]any, v any, path string, depth int)
	walk = func(sch map[string]any, v any, path string, depth int) {
		if depth > 32 {
			return
		}
		if r, ok := sch["$ref"].(string); ok {
			if target := resolveRef(schema, r); target != nil {
				walk(target, v, path, depth+1)
			}
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if req, ok := sch["required"].([]any); ok {
				for _, k := range req {
					if ks, ok := k.(string); ok {
						if _, has := v[ks]; !has {
							out = append(out, path+ks)
						}
					}
				}
			}
			props, _ := sch["properties"].(map[string]any)
			keys := make([]string, 0, len(props))
			for k := range props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if ps, ok := props[k].(map[string]any); ok {
					if cv, has := v[k]; has {
						walk(ps, cv, path+k+".", depth+1)
					}
				}
			}
		case []any:
			if items, ok := sch["items"].(map[string]any); ok {
				for i, e := range v {
					walk(items, e, fmt.Sprintf("%s%d.", path, i), depth+1)
				}
			}
		}
	}
	if schema != nil {
		walk(schema, v, "", 0)
	}
	return out
}

// resolveRef follows a local JSON pointer (#/definitions/node).
func resolveRef(root map[string]any, ref string) map[string]any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := root
	for _, k := range strings.Split(p, "/") {
		next, ok := cur[strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~")].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// ---- access controls ----

// aclBody is an access control as posted.
type aclBody struct {
	GrantType     string `json:"grantType"`
	AccessLevelID string `json:"accessLevelId"`
	MemberID      string `json:"memberId"`
}

func readACL(c *apiCall) (*aclBody, *vcdError) {
	var in aclBody
	if err := readJSON(c.r, &in); err != nil {
		return nil, err
	}
	if in.GrantType == "" {
		in.GrantType = grantMembership
	}
	if in.GrantType != grantMembership {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "grantType %q is not %s.", in.GrantType, grantMembership)
	}
	if _, ok := accessLevels[in.AccessLevelID]; !ok {
		return nil, errf(http.StatusBadRequest, "BAD_REQUEST", "accessLevelId %q is not an access level.", in.AccessLevelID)
	}
	return &in, nil
}

// checkMember accepts a user of the org, or the org itself.
func (s *Server) checkMember(member string, o *org) *vcdError {
	if strings.EqualFold(member, orgURN(o)) {
		return nil
	}
	if uo, u := s.userByURN(member); u != nil && uo == o {
		return nil
	}
	return errf(http.StatusBadRequest, "BAD_REQUEST", "The member %q is not a user of the organization %s.", member, o.name)
}

// entityACL serves GET/POST /entities/{id}/accessControls and GET/PUT/DELETE
// …/accessControls/{aclId}. Reading needs sight of the entity, changing FullControl. A POST
// for a member that has a grant already changes its level.
func (s *Server) entityACL(c *apiCall, id string) *vcdError {
	need := levelRead
	if c.r.Method != http.MethodGet {
		need = levelFull
	}
	e, err := s.entityFor(c, id, need)
	if err != nil {
		return err
	}
	if len(c.t) == 3 {
		switch c.r.Method {
		case http.MethodGet:
			return writePage(c, e.acl)
		case http.MethodPost:
			in, err := readACL(c)
			if err != nil {
				return err
			}
			if err := s.checkMember(in.MemberID, e.org); err != nil {
				return err
			}
			for _, a := range e.acl {
				if strings.EqualFold(a.MemberID, in.MemberID) {
					a.AccessLevelID = in.AccessLevelID
					writeJSON(c.w, http.StatusCreated, a)
					return nil
				}
			}
			a := &accessControl{ID: "urn:vcloud:accessControl:" + uuid.NewString(), Tenant: apiRef{Name: e.org.name, ID: orgURN(e.org)},
				GrantType: in.GrantType, ObjectID: e.id, AccessLevelID: in.AccessLevelID, MemberID: in.MemberID}
			e.acl = append(e.acl, a)
			writeJSON(c.w, http.StatusCreated, a)
			return nil
		}
		return notFoundPath(c)
	}
	var a *accessControl
	for _, x := range e.acl {
		if strings.EqualFold(x.ID, c.at(3)) {
			a = x
		}
	}
	if a == nil {
		return notExist("Access control", c.at(3))
	}
	switch c.r.Method {
	case http.MethodGet:
		writeJSON(c.w, http.StatusOK, a)
	case http.MethodPut:
		in, err := readACL(c)
		if err != nil {
			return err
		}
		if in.MemberID != "" && !strings.EqualFold(in.MemberID, a.MemberID) {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The member of an access control cannot change.")
		}
		a.AccessLevelID = in.AccessLevelID
		writeJSON(c.w, http.StatusOK, a)
	case http.MethodDelete:
		e.acl = slices.DeleteFunc(e.acl, func(x *accessControl) bool { return x == a })
		c.w.WriteHeader(http.StatusNoContent)
	default:
		return notFoundPath(c)
	}
	return nil
}

// typeACL serves a type's own access controls, at /entities/{typeId}/accessControls as CSE
// sends them (System org only): GET and POST.
func (s *Server) typeACL(c *apiCall) *vcdError {
	if err := systemOnly(c); err != nil {
		return err
	}
	t := s.rde.typ(c.at(1))
	if t == nil {
		return notExist("Entity type", c.at(1))
	}
	switch {
	case c.is(http.MethodGet, 3):
		return writePage(c, t.acl)
	case c.is(http.MethodPost, 3):
		in, err := readACL(c)
		if err != nil {
			return err
		}
		o := s.orgByID(in.MemberID)
		if o == nil {
			if uo, u := s.userByURN(in.MemberID); u != nil {
				o = uo
			}
		}
		if o == nil {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "The member %q is neither an organization nor a user.", in.MemberID)
		}
		for _, a := range t.acl {
			if strings.EqualFold(a.MemberID, in.MemberID) {
				a.AccessLevelID = in.AccessLevelID
				writeJSON(c.w, http.StatusCreated, a)
				return nil
			}
		}
		a := &accessControl{ID: "urn:vcloud:accessControl:" + uuid.NewString(), Tenant: apiRef{Name: o.name, ID: orgURN(o)},
			GrantType: in.GrantType, ObjectID: t.ID, AccessLevelID: in.AccessLevelID, MemberID: in.MemberID}
		t.acl = append(t.acl, a)
		writeJSON(c.w, http.StatusCreated, a)
		return nil
	}
	return notFoundPath(c)
}
