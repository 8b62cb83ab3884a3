// Package rde registers in VCD what CSE 3.1.4's installer registers (cse-rde.md §1.1,
// §1.2), so that CSE's clients and VCD's UI find kaas's clusters as CSE's defined entities:
// the interfaces, the cse:nativeCluster entity types 1.0.0 (API 35) and 2.1.0 (API 36), and
// the System org's access to them. VCD makes the `cse:nativeCluster Entitlement` rights
// bundle itself when the first type is registered; Register publishes it to the tenant orgs
// it is told to. RightIDs reads back the URNs VCD gave CSE's rights: VCD names rights by URN
// in the security context of every call it relays to kaas.
//
// Everything goes through go-vcloud-director, as the provider account kaasd runs with, and
// is idempotent: a second Register changes nothing, and a changed schema is PUT in place (the
// update path of `cse upgrade`).
//
// kaas registers no behaviors and no hooks. CSE's PostCreate, PostUpdate and PreDelete hooks
// had VCD invoke CSE over MQTT whenever an entity changed; kaas is not an MQTT behavior
// executor. Its own follower writes each cluster's entity from kaas's events instead, and
// writes with hooks off.
package rde

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events/cluster"
)

// What CSE registers, by the ids CSE's clients look for.
const (
	// InterfaceK8s is VCD's own Kubernetes interface (VCD 10.2 and later have it built in).
	InterfaceK8s = "urn:vcloud:interface:vmware:k8s:1.0.0"
	// InterfaceCSE is CSE's interface, which CSE creates for the 2.x entity types.
	InterfaceCSE     = "urn:vcloud:interface:cse:k8s:1.0.0"
	interfaceCSEName = "CSE_K8s_interface"

	Vendor   = "cse"
	NSS      = "nativeCluster"
	TypeName = "nativeClusterEntityType"
	// Bundle is the rights bundle VCD makes for the cse:nativeCluster types.
	Bundle = "cse:nativeCluster Entitlement"

	// SystemOrg is the URN of VCD's System org, the same in every installation.
	SystemOrg = "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"

	accessReadWrite = "urn:vcloud:accessLevel:ReadWrite"
	grantMembership = "MembershipAccessControlGrant"
)

// RightNames are the rights VCD makes for the cse:nativeCluster types, the names kaas
// checks access by.
var RightNames = []string{cluster.RightView, cluster.RightModify, cluster.RightFullAccess, cluster.RightAdminView, cluster.RightAdminFull}

// EntityType is one entity type Register registers.
type EntityType struct {
	ID, Version string
	Interfaces  []string
	// Schema is the JSON schema of the entity kaas writes (package cse renders it).
	Schema map[string]any
}

//go:embed schema/*.json
var schemas embed.FS

// The VCD API versions CSE 3.1.4 runs at outside legacy mode (cse-rde.md §1.1): 35.0 (VCD
// 10.2) with RDE 1.0.0, 36.0 (VCD 10.3 and later) with RDE 2.1.0.
const (
	API35 = "35.0"
	API36 = "36.0"
)

// APIVersion is what CSE's installer takes as its API version (config_validator.py): the
// highest of 35.0 and 36.0 that VCD lists in /api/versions. A VCD listing neither is older
// than CSE 3.1 supports outside legacy mode.
func APIVersion(listed []string) (string, error) {
	switch {
	case slices.Contains(listed, API36):
		return API36, nil
	case slices.Contains(listed, API35):
		return API35, nil
	}
	return "", fmt.Errorf("VCD lists API versions %s: CSE's entity types need 35.0 (VCD 10.2) or 36.0 (VCD 10.3 and later)", strings.Join(listed, ", "))
}

// VCDVersions reads the API versions VCD lists (GET /api/versions, unauthenticated) through
// go-vcloud-director, which keeps them to itself.
func VCDVersions(ctx context.Context, vc *govcd.VCDClient) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v govcd.SupportedVersions
	href := strings.TrimSuffix(vc.Client.VCDHREF.String(), "/") + "/versions"
	if _, err := vc.Client.ExecuteRequest(href, http.MethodGet, "", "read VCD's API versions: %s", nil, &v); err != nil {
		return nil, fmt.Errorf("read VCD's API versions: %w", err)
	}
	out := make([]string, 0, len(v.VersionInfos))
	for _, i := range v.VersionInfos {
		out = append(out, i.Version)
	}
	return out, nil
}

// TypeID is the entity type of the clusters at the API version: the highest type Register
// registers there, which is the one CSE's clients read (cse-rde.md §0.2).
func TypeID(api string) string {
	ts := EntityTypes(api)
	return ts[len(ts)-1].ID
}

// EntityTypes are the types Register registers at the API version, oldest first: at 35.0
// only 1.0.0 (what CSE registers there), at 36.0 1.0.0 too (older tools look for it) and
// 2.1.0, the one CSE's clients read at 36. Their schemas are kaas's own (schema/), written
// for the entities package cse renders, with CSE's required fields.
func EntityTypes(api string) []EntityType {
	all := []struct {
		version    string
		interfaces []string
	}{{"1.0.0", []string{InterfaceK8s}}, {"2.1.0", []string{InterfaceK8s, InterfaceCSE}}}
	if api == API35 {
		all = all[:1]
	}
	out := make([]EntityType, 0, len(all))
	for _, t := range all {
		b, err := schemas.ReadFile("schema/native-" + t.version + ".json")
		if err != nil {
			panic(err) // embedded: present by construction
		}
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			panic(fmt.Sprintf("schema %s: %v", t.version, err))
		}
		out = append(out, EntityType{ID: "urn:vcloud:type:" + Vendor + ":" + NSS + ":" + t.version, Version: t.version,
			Interfaces: t.interfaces, Schema: s})
	}
	return out
}

// Config says what Register does beyond what CSE's installer does.
type Config struct {
	// APIVersion is the API version CSE would run at on this VCD (see APIVersion): at 35.0
	// only what CSE registers there, type 1.0.0 and no interface of CSE's. Empty: 36.0.
	APIVersion string
	// SystemOrg is the org given ReadWrite on each type Register creates; VCD's System org
	// when empty.
	SystemOrg string
	// Publish says which tenant orgs get the rights bundle.
	Publish Publish
}

// Publish names the tenant orgs the rights bundle is published to: every one, or those
// named. The zero value publishes to nobody, as `cse install` does.
type Publish struct {
	All  bool
	Orgs []string
}

// ParsePublish reads "all", "none" (or "") or a comma-separated list of org names.
func ParsePublish(s string) (Publish, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return Publish{}, nil
	case "all":
		return Publish{All: true}, nil
	}
	var p Publish
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return Publish{}, fmt.Errorf("publish rights to %q: an empty org name (use all, none or org1,org2)", s)
		}
		if strings.EqualFold(name, "System") {
			return Publish{}, fmt.Errorf("publish rights to %q: the System org has every right already", s)
		}
		if strings.EqualFold(name, "all") || strings.EqualFold(name, "none") {
			return Publish{}, fmt.Errorf("publish rights to %q: %s cannot be combined with org names", s, name)
		}
		p.Orgs = append(p.Orgs, name)
	}
	return p, nil
}

func (p Publish) String() string {
	switch {
	case p.All:
		return "all"
	case len(p.Orgs) == 0:
		return "none"
	}
	return strings.Join(p.Orgs, ",")
}

// Action is what Register did to one thing.
type Action string

// Actions.
const (
	Found   Action = "found"
	Created Action = "created"
	Updated Action = "updated"
)

// Item is one interface or entity type and what Register did to it.
type Item struct {
	ID, Name string
	Action   Action
	// Note says more: the access control given to a new type, hooks left on a type.
	Note string
}

// Report says what Register found and did.
type Report struct {
	// APIVersion is the API version registered for (35.0 or 36.0).
	APIVersion string
	Interfaces []Item
	Types      []Item
	// BundleID and BundleName are the rights bundle's; Rights maps its rights' URNs to
	// their names.
	BundleID, BundleName string
	Rights               map[string]string
	// Published are the orgs the bundle was published to now; AlreadyPublished those that
	// had it.
	Published, AlreadyPublished []string
}

// Changed reports whether Register changed anything in VCD.
func (r Report) Changed() bool {
	for _, it := range slices.Concat(r.Interfaces, r.Types) {
		if it.Action != Found {
			return true
		}
	}
	return len(r.Published) > 0
}

// Print writes the report as `kaasd install` shows it.
func (r Report) Print(w io.Writer) {
	if r.APIVersion != "" {
		fmt.Fprintf(w, "VCD API %s: CSE's entity type %s\n", r.APIVersion, TypeID(r.APIVersion))
	}
	for _, it := range r.Interfaces {
		fmt.Fprintf(w, "interface %s (%s) %s\n", it.ID, it.Name, it.Action)
	}
	for _, it := range r.Types {
		what := string(it.Action)
		if it.Action == Updated {
			what = "schema updated"
		}
		if it.Note != "" {
			what += "; " + it.Note
		}
		fmt.Fprintf(w, "entity type %s (%s) %s\n", it.ID, it.Name, what)
	}
	fmt.Fprintln(w, "no behaviors or hooks registered: kaas writes the entities itself")
	fmt.Fprintf(w, "rights bundle %q (%s) holds %d rights:\n", r.BundleName, r.BundleID, len(r.Rights))
	for _, name := range RightNames {
		for urn, n := range r.Rights {
			if n == name {
				fmt.Fprintf(w, "  %s = %s\n", urn, name)
			}
		}
	}
	switch {
	case len(r.Published) > 0:
		fmt.Fprintf(w, "rights bundle published to %s\n", strings.Join(r.Published, ", "))
	case len(r.AlreadyPublished) == 0:
		fmt.Fprintln(w, "rights bundle published to no tenant org (--publish-rights)")
	}
	if len(r.AlreadyPublished) > 0 {
		fmt.Fprintf(w, "rights bundle already published to %s\n", strings.Join(r.AlreadyPublished, ", "))
	}
}

// Register registers the interfaces and entity types, gives the System org ReadWrite on
// each type it creates, updates the schema of a type that exists with another one, and
// publishes the rights bundle to the tenant orgs cfg names. vc must be logged in as a
// provider (System org) account.
func Register(ctx context.Context, vc *govcd.VCDClient, cfg Config) (Report, error) {
	if cfg.SystemOrg == "" {
		cfg.SystemOrg = SystemOrg
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = API36
	}
	if cfg.APIVersion != API35 && cfg.APIVersion != API36 {
		return Report{}, fmt.Errorf("register at API %q: CSE's entity types are for %s and %s", cfg.APIVersion, API35, API36)
	}
	r := Report{APIVersion: cfg.APIVersion}

	// VCD's interface must be there: every CSE type implements it, and only VCD makes it.
	k8s, err := vc.GetDefinedInterfaceById(InterfaceK8s)
	if absent(err) {
		return r, fmt.Errorf("VCD has no interface %s, which CSE's entity types implement (VCD 10.2 and later have it built in): %w", InterfaceK8s, err)
	}
	if err != nil {
		return r, fmt.Errorf("read interface %s: %w", InterfaceK8s, err)
	}
	r.Interfaces = append(r.Interfaces, Item{ID: InterfaceK8s, Name: k8s.DefinedInterface.Name, Action: Found})

	// CSE makes its own interface only at 36: at 35 its type implements VCD's alone.
	if cfg.APIVersion == API36 {
		item, err := registerCSEInterface(ctx, vc)
		if err != nil {
			return r, err
		}
		r.Interfaces = append(r.Interfaces, item)
	}

	for _, t := range EntityTypes(cfg.APIVersion) {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		it, err := registerType(vc, t, cfg.SystemOrg)
		if err != nil {
			return r, err
		}
		r.Types = append(r.Types, it)
	}

	if err := ctx.Err(); err != nil {
		return r, err
	}
	bundle, err := vc.Client.GetRightsBundleByName(Bundle)
	if err != nil {
		return r, fmt.Errorf("find rights bundle %q, which VCD makes with the first %s:%s type: %w", Bundle, Vendor, NSS, err)
	}
	r.BundleID, r.BundleName = bundle.RightsBundle.Id, bundle.RightsBundle.Name
	rights, err := bundle.GetRights(nil)
	if err != nil {
		return r, fmt.Errorf("list the rights of bundle %q: %w", Bundle, err)
	}
	r.Rights = map[string]string{}
	for _, rt := range rights {
		r.Rights[rt.ID] = rt.Name
	}
	if err := publish(ctx, vc, bundle, cfg.Publish, &r); err != nil {
		return r, err
	}
	return r, nil
}

// registerCSEInterface finds CSE's interface, or creates it.
func registerCSEInterface(ctx context.Context, vc *govcd.VCDClient) (Item, error) {
	if err := ctx.Err(); err != nil {
		return Item{}, err
	}
	item := Item{ID: InterfaceCSE, Name: interfaceCSEName, Action: Found}
	cse, err := vc.GetDefinedInterfaceById(InterfaceCSE)
	switch {
	case absent(err):
		if _, err := vc.CreateDefinedInterface(&types.DefinedInterface{ID: InterfaceCSE, Name: interfaceCSEName, Vendor: Vendor,
			Nss: "k8s", Version: "1.0.0"}); err != nil {
			return item, fmt.Errorf("create interface %s: %w", InterfaceCSE, err)
		}
		item.Action = Created
	case err != nil:
		return item, fmt.Errorf("read interface %s: %w", InterfaceCSE, err)
	default:
		item.Name = cse.DefinedInterface.Name
	}
	return item, nil
}

// registerType creates the type, or puts its schema when the registered one differs.
func registerType(vc *govcd.VCDClient, t EntityType, systemOrg string) (Item, error) {
	want := types.DefinedEntityType{ID: t.ID, Name: TypeName, Vendor: Vendor, Nss: NSS, Version: t.Version,
		Interfaces: t.Interfaces, Schema: t.Schema}
	it := Item{ID: t.ID, Name: TypeName, Action: Found}
	cur, err := vc.GetRdeTypeById(t.ID)
	if absent(err) {
		if _, err := vc.CreateRdeType(&want); err != nil {
			return it, fmt.Errorf("create entity type %s: %w", t.ID, err)
		}
		// As CSE: the System org may read and write every entity of the type.
		if err := grantType(vc, t.ID, systemOrg); err != nil {
			return it, err
		}
		it.Action, it.Note = Created, "ReadWrite for "+systemOrg
		return it, nil
	}
	if err != nil {
		return it, fmt.Errorf("read entity type %s: %w", t.ID, err)
	}
	it.Name = cur.DefinedEntityType.Name
	if len(cur.DefinedEntityType.Hooks) > 0 {
		// A type CSE registered keeps its hooks: they are the provider's to remove, and kaas
		// writes with hooks off.
		it.Note = "hooks left as they are: " + hookList(cur.DefinedEntityType.Hooks)
	}
	same, err := sameJSON(cur.DefinedEntityType.Schema, t.Schema)
	if err != nil {
		return it, fmt.Errorf("compare the schema of entity type %s: %w", t.ID, err)
	}
	if same {
		return it, nil
	}
	want.Name, want.Description = cur.DefinedEntityType.Name, cur.DefinedEntityType.Description
	want.Interfaces, want.Hooks = cur.DefinedEntityType.Interfaces, cur.DefinedEntityType.Hooks
	if err := cur.Update(want); err != nil {
		return it, fmt.Errorf("update the schema of entity type %s: %w", t.ID, err)
	}
	it.Action = Updated
	return it, nil
}

// grantType gives org ReadWrite on every entity of the type, as CSE does right after
// creating it: POST /cloudapi/1.0.0/entities/{typeId}/accessControls/. govcd has the call
// for entities only, so it is made with govcd's OpenAPI helpers.
func grantType(vc *govcd.VCDClient, typeID, org string) error {
	u, err := vc.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + fmt.Sprintf(types.OpenApiEndpointRdeEntityAccessControls, typeID))
	if err != nil {
		return err
	}
	acl := types.DefinedEntityAccess{GrantType: grantMembership, AccessLevelID: accessReadWrite, MemberID: org}
	if err := vc.Client.OpenApiPostItem(vc.Client.APIVersion, u, nil, &acl, &types.DefinedEntityAccess{}, nil); err != nil {
		return fmt.Errorf("give %s ReadWrite on entity type %s: %w", org, typeID, err)
	}
	return nil
}

// publish publishes the bundle to the orgs p names that do not have it yet.
func publish(ctx context.Context, vc *govcd.VCDClient, bundle *govcd.RightsBundle, p Publish, r *Report) error {
	if !p.All && len(p.Orgs) == 0 {
		return nil
	}
	list, err := vc.GetOrgList()
	if err != nil {
		return fmt.Errorf("list the orgs: %w", err)
	}
	orgs := map[string]types.OpenApiReference{} // by lower-case name, as VCD matches org names
	var names []string
	for _, o := range list.Org {
		if o == nil || strings.EqualFold(o.Name, "System") {
			continue
		}
		id := o.ID
		if id == "" {
			id = "urn:vcloud:org:" + lastSegment(o.HREF)
		}
		orgs[strings.ToLower(o.Name)] = types.OpenApiReference{Name: o.Name, ID: id}
		names = append(names, o.Name)
	}
	want := names
	if !p.All {
		want = nil
		var unknown []string
		for _, n := range p.Orgs {
			if o, ok := orgs[strings.ToLower(n)]; ok {
				want = append(want, o.Name)
			} else {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("publish rights bundle %q: VCD has no tenant org %s", Bundle, strings.Join(unknown, ", "))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	have, err := bundle.GetTenants(nil)
	if err != nil {
		return fmt.Errorf("list the orgs rights bundle %q is published to: %w", Bundle, err)
	}
	var add []types.OpenApiReference
	for _, n := range want {
		o := orgs[strings.ToLower(n)]
		if slices.ContainsFunc(have, func(h types.OpenApiReference) bool { return strings.EqualFold(h.ID, o.ID) }) {
			r.AlreadyPublished = append(r.AlreadyPublished, o.Name)
			continue
		}
		add = append(add, o)
	}
	if len(add) == 0 {
		return nil
	}
	if err := bundle.PublishTenants(add); err != nil {
		return fmt.Errorf("publish rights bundle %q: %w", Bundle, err)
	}
	for _, o := range add {
		r.Published = append(r.Published, o.Name)
	}
	return nil
}

// RightIDs reads from VCD the URN of each of CSE's rights: it maps URN → name. missing
// names the rights VCD does not have (no cse:nativeCluster type is registered yet).
func RightIDs(ctx context.Context, vc *govcd.VCDClient) (ids map[string]string, missing []string, err error) {
	ids = map[string]string{}
	for _, name := range RightNames {
		if err := ctx.Err(); err != nil {
			return ids, missing, err
		}
		// GET /cloudapi/1.0.0/rights?filter=name==…: any user who may view rights can.
		rt, err := vc.Client.GetRightByName(name)
		if absent(err) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return ids, missing, fmt.Errorf("read right %q: %w", name, err)
		}
		ids[rt.ID] = rt.Name
	}
	return ids, missing, nil
}

// absent reports whether VCD said the object does not exist: real VCD answers 403 for a
// missing defined-entity object (govcd calls that "not found"), and 404 elsewhere.
func absent(err error) bool {
	return errors.Is(err, govcd.ErrorEntityNotFound) || govcd.ContainsNotFound(err) ||
		err != nil && strings.Contains(err.Error(), "RESOURCE_NOT_FOUND")
}

func hookList(h map[string]string) string {
	var out []string
	for k, v := range h {
		out = append(out, k+"→"+v)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// sameJSON compares two JSON documents by value: VCD may store a schema with its keys
// reordered.
func sameJSON(a, b any) (bool, error) {
	norm := func(v any) (any, error) {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var out any
		return out, json.Unmarshal(raw, &out)
	}
	na, err := norm(a)
	if err != nil {
		return false, err
	}
	nb, err := norm(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(na, nb), nil
}

func lastSegment(href string) string {
	if u, err := url.Parse(href); err == nil {
		href = u.Path
	}
	href = strings.TrimSuffix(href, "/")
	return href[strings.LastIndex(href, "/")+1:]
}
