package vcdsim

import (
	"net/http"
	"slices"
	"strings"
)

// Rights and rights bundles, as VCD keeps them: a right has a URN and a name; a bundle
// groups rights and is published to tenant orgs (or to all); a tenant's users can hold only
// rights of a bundle published to their org, the System org's users any right. Users' rights
// are configured by name (UserConfig.Rights); what VCD grants is those of them that exist and
// are published to the user's org, and the security context of a relayed call carries their
// URNs (cse-rde.md §1.2, contract "Types, interfaces, rights").

// right is a VCD right.
type right struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	BundleKey        string   `json:"bundleKey"`
	Category         string   `json:"category"`
	ServiceNamespace string   `json:"serviceNamespace"`
	RightType        string   `json:"rightType"` // VIEW or MODIFY
	ImpliedRights    []apiRef `json:"impliedRights"`
}

// bundle is a rights bundle.
type bundle struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	BundleKey   string `json:"bundleKey"`
	ReadOnly    bool   `json:"readOnly"`
	PublishAll  bool   `json:"publishAll"`

	rights  []*right
	tenants []*org // published to, when not to all
}

const undefinedBundleKey = "com.vmware.vcloud.undefined.key"

// builtinRights are a few of the rights every VCD has, in its Default Rights Bundle
// (published to every org).
var builtinRights = []struct{ name, category, typ string }{
	{"Custom entity: View custom entity definitions", "Custom entity", "VIEW"},
	{"Custom entity: Create custom entity definitions", "Custom entity", "MODIFY"},
	{"Custom entity: Edit custom entity definitions", "Custom entity", "MODIFY"},
	{"Custom entity: Delete custom entity definitions", "Custom entity", "MODIFY"},
	{"Organization vDC: View", "Organization vDC", "VIEW"},
	{"vApp: Create / Reconfigure a vApp", "vApp", "MODIFY"},
	{"vApp: Delete", "vApp", "MODIFY"},
	{"vApp: Power Operations", "vApp", "MODIFY"},
	{"vApp: Share", "vApp", "MODIFY"},
	{"Catalog: View Private and Shared Catalogs", "Catalog", "VIEW"},
	{"Task: Update", "Task", "MODIFY"},
	{"Token: Manage", "Token", "MODIFY"},
}

// typeRightNames are the five rights VCD makes for each vendor:nss of an entity type.
var typeRightNames = []struct{ suffix, typ string }{
	{"View", "VIEW"}, {"Modify", "MODIFY"}, {"Full Access", "MODIFY"},
	{"Administrator View", "VIEW"}, {"Administrator Full access", "MODIFY"},
}

// Ids are stable (derived from names), as they are in one VCD installation across restarts.
func rightURN(name string) string { return "urn:vcloud:right:" + stableID("right", name) }
func bundleURN(name string) string {
	return "urn:vcloud:rightsBundle:" + stableID("rightsBundle", name)
}
func categoryURN(name string) string {
	return "urn:vcloud:rightsCategory:" + stableID("rightsCategory", name)
}

// RightURN is the URN the simulator gives the right of a name, once it exists (built in, or
// made with an entity type): stable, so that tests can expect it.
func RightURN(name string) string { return rightURN(name) }

// seedRights makes the built-in rights and the Default Rights Bundle.
func (st *rdeState) seedRights() {
	def := &bundle{ID: bundleURN("Default Rights Bundle"), Name: "Default Rights Bundle", Description: "Default set of tenant rights",
		BundleKey: undefinedBundleKey, PublishAll: true}
	for _, b := range builtinRights {
		r := &right{ID: rightURN(b.name), Name: b.name, BundleKey: undefinedBundleKey, Category: categoryURN(b.category),
			RightType: b.typ, ImpliedRights: []apiRef{}}
		st.rights = append(st.rights, r)
		def.rights = append(def.rights, r)
	}
	st.bundles = append(st.bundles, def)
}

// ensureTypeRights makes, once per vendor:nss, the bundle "<vendor>:<nss> Entitlement" and
// its five rights, published to nobody.
func (st *rdeState) ensureTypeRights(vendor, nss string) {
	name := vendor + ":" + nss + " Entitlement"
	if st.bundleByName(name) != nil {
		return
	}
	b := &bundle{ID: bundleURN(name), Name: name, Description: "Rights bundle for the defined entity type " + vendor + ":" + nss,
		BundleKey: undefinedBundleKey}
	for _, tr := range typeRightNames {
		rn := vendor + ":" + nss + ": " + tr.suffix
		r := st.rightByName(rn)
		if r == nil {
			r = &right{ID: rightURN(rn), Name: rn, BundleKey: undefinedBundleKey, Category: categoryURN(vendor + ":" + nss),
				RightType: tr.typ, ImpliedRights: []apiRef{}}
			st.rights = append(st.rights, r)
		}
		b.rights = append(b.rights, r)
	}
	st.bundles = append(st.bundles, b)
}

func (st *rdeState) rightByName(name string) *right {
	for _, r := range st.rights {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (st *rdeState) bundleByName(name string) *bundle {
	for _, b := range st.bundles {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// publishedTo reports whether an org may hold a right: the System org holds any.
func (st *rdeState) publishedTo(r *right, o *org) bool {
	if o.system() {
		return true
	}
	for _, b := range st.bundles {
		if slices.Contains(b.rights, r) && (b.PublishAll || slices.Contains(b.tenants, o)) {
			return true
		}
	}
	return false
}

// rightsOf are the rights VCD grants a session's user: those configured for it that exist
// and that its org may hold, in the configured order.
func (s *Server) rightsOf(sess *session) []*right {
	var out []*right
	for _, name := range sess.user.Rights {
		r := s.rde.rightByName(name)
		if r != nil && !slices.Contains(out, r) && s.rde.publishedTo(r, sess.org) {
			out = append(out, r)
		}
	}
	return out
}

// rightURNs are the URNs of rightsOf, as VCD puts them in a security context.
func (s *Server) rightURNs(sess *session) []string {
	out := []string{}
	for _, r := range s.rightsOf(sess) {
		out = append(out, r.ID)
	}
	return out
}

func (s *Server) holds(sess *session, name string) bool {
	return slices.ContainsFunc(s.rightsOf(sess), func(r *right) bool { return strings.EqualFold(r.Name, name) })
}

// rightsRoute serves GET /rights (a tenant sees the rights its org may hold) and
// GET /rights/{id}.
func (s *Server) rightsRoute(c *apiCall) *vcdError {
	visible := func(r *right) bool { return s.rde.publishedTo(r, c.sess.org) }
	switch {
	case c.is(http.MethodGet, 1):
		var out []*right
		for _, r := range s.rde.rights {
			if visible(r) {
				out = append(out, r)
			}
		}
		return writePage(c, out)
	case c.is(http.MethodGet, 2):
		for _, r := range s.rde.rights {
			if r.ID == c.at(1) && visible(r) {
				writeJSON(c.w, http.StatusOK, r)
				return nil
			}
		}
		return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Right %s does not exist.", c.at(1))
	}
	return notFoundPath(c)
}

// bundlesRoute serves the rights bundles, to the System org only: GET /rightsBundles,
// GET /rightsBundles/{id}, GET …/{id}/rights, GET and PUT …/{id}/tenants, and POST
// …/{id}/tenants/{publish,unpublish,publishAll,unpublishAll}.
func (s *Server) bundlesRoute(c *apiCall) *vcdError {
	if err := systemOnly(c); err != nil {
		return err
	}
	if c.is(http.MethodGet, 1) {
		return writePage(c, s.rde.bundles)
	}
	var b *bundle
	for _, x := range s.rde.bundles {
		if x.ID == c.at(1) {
			b = x
		}
	}
	if b == nil {
		return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Rights bundle %s does not exist.", c.at(1))
	}
	switch {
	case c.is(http.MethodGet, 2):
		writeJSON(c.w, http.StatusOK, b)
	case c.is(http.MethodGet, 3) && c.at(2) == "rights":
		return writePage(c, b.rights)
	case c.is(http.MethodGet, 3) && c.at(2) == "tenants":
		return writePage(c, s.tenantRefs(b))
	case c.at(2) == "tenants" && (c.is(http.MethodPut, 3) || c.is(http.MethodPost, 4)):
		op := c.at(3)
		if c.r.Method == http.MethodPut {
			op = "replace"
		}
		var in struct {
			Values []apiRef `json:"values"`
		}
		if op == "publish" || op == "unpublish" || op == "replace" {
			if err := readJSON(c.r, &in); err != nil {
				return err
			}
		}
		var orgs []*org
		for _, v := range in.Values {
			o := s.orgByID(v.ID)
			if o == nil || o.system() {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "%q is not a tenant organization.", v.ID)
			}
			orgs = append(orgs, o)
		}
		switch op {
		case "publish":
			for _, o := range orgs {
				if !slices.Contains(b.tenants, o) {
					b.tenants = append(b.tenants, o)
				}
			}
		case "unpublish":
			b.tenants = slices.DeleteFunc(b.tenants, func(o *org) bool { return slices.Contains(orgs, o) })
		case "replace":
			b.tenants = orgs
		case "publishAll":
			b.PublishAll = true
		case "unpublishAll":
			b.PublishAll, b.tenants = false, nil
		default:
			return notFoundPath(c)
		}
		writeJSON(c.w, http.StatusOK, struct {
			Values []apiRef `json:"values"`
		}{s.tenantRefs(b)})
	default:
		return notFoundPath(c)
	}
	return nil
}

// tenantRefs are the orgs a bundle is published to (every tenant when to all).
func (s *Server) tenantRefs(b *bundle) []apiRef {
	out := []apiRef{}
	for _, o := range s.orgs {
		if !o.system() && (b.PublishAll || slices.Contains(b.tenants, o)) {
			out = append(out, apiRef{Name: o.name, ID: orgURN(o)})
		}
	}
	return out
}
