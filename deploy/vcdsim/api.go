package vcdsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// versions clients may ask for: govcd needs 37.0 verbatim (vcd-api.md §6); pyvcloud 23
// negotiates up to 36.0, and CSE 3.1 uses 35.0 and 36.0 (cse-rde.md §3.1). Ascending, as
// VCD lists them. Config.MaxAPIVersion cuts the list.
var apiVersions = []string{"33.0", "34.0", "35.0", "36.0", "37.0", "37.1", "37.2", "38.0", "38.1"}

// ServeHTTP serves the simulated VCD.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		s.SetBase(scheme + "://" + r.Host)
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/transfer/"):
		s.transfer(w, r)
	case p == "/api/versions":
		s.versions(w)
	case p == "/cloudapi/1.0.0/sessions" || p == "/cloudapi/1.0.0/sessions/provider":
		s.sessionsEndpoint(w, r, strings.HasSuffix(p, "/provider"))
	case p == "/cloudapi/1.0.0/sessions/current":
		if sess := s.auth(r); sess != nil {
			s.loginBody(w, sess)
		} else {
			writeError(w, errf(401, "UNAUTHORIZED", "no valid session"))
		}
	case strings.HasPrefix(p, "/cloudapi/"):
		s.cloudapi(w, r)
	case strings.HasPrefix(p, "/oauth/"):
		s.oauthToken(w, r)
	case strings.HasPrefix(p, "/sim/"):
		s.admin(w, r)
	case strings.HasPrefix(p, "/api/"):
		sess := s.auth(r)
		if sess == nil {
			writeError(w, errf(http.StatusUnauthorized, "UNAUTHORIZED", "This operation is denied: no valid session."))
			return
		}
		s.api(w, r, sess)
	default:
		writeError(w, errf(http.StatusNotFound, "RESOURCE_NOT_FOUND", "%s not found", p))
	}
}

func (s *Server) versions(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<SupportedVersions xmlns="http://www.vmware.com/vcloud/versions">`)
	for _, v := range s.apiVersions {
		fmt.Fprintf(&b, `<VersionInfo deprecated="false"><Version>%s</Version><LoginUrl>%s/api/sessions</LoginUrl></VersionInfo>`, v, s.base)
	}
	b.WriteString(`</SupportedVersions>`)
	w.Header().Set("Content-Type", "application/vnd.vmware.vcloud.versions+xml")
	_, _ = w.Write([]byte(b.String()))
}

// auth finds the caller's session from any of the headers govcd sends.
func (s *Server) auth(r *http.Request) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[token(r)]
}

func (s *Server) findUser(orgName, user string) (*org, *UserConfig) {
	for _, o := range s.orgs {
		if strings.EqualFold(o.name, orgName) {
			for i := range o.users {
				if o.users[i].Name == user {
					return o, &o.users[i]
				}
			}
		}
	}
	return nil, nil
}

func (s *Server) sessionsEndpoint(w http.ResponseWriter, r *http.Request, provider bool) {
	switch r.Method {
	case http.MethodDelete:
		s.logout(r)
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		writeError(w, errf(405, "METHOD_NOT_ALLOWED", "%s not allowed", r.Method))
		return
	}
	user, pass, ok := r.BasicAuth()
	name, orgName, _ := strings.Cut(user, "@")
	s.mu.Lock()
	o, u := s.findUser(orgName, name)
	if !ok || u == nil || u.Password != pass || o.system() != provider {
		s.mu.Unlock()
		writeError(w, errf(http.StatusUnauthorized, "UNAUTHORIZED", "invalid credentials for %s", user))
		return
	}
	sess := &session{token: randomToken(), user: *u, userID: userURN(o, u.Name), org: o}
	s.sessions[sess.token] = sess
	s.calls["login"]++
	s.mu.Unlock()
	w.Header().Set("X-VMWARE-VCLOUD-ACCESS-TOKEN", sess.token)
	w.Header().Set("X-VMWARE-VCLOUD-TOKEN-TYPE", "Bearer")
	s.loginBody(w, sess)
}

func (s *Server) loginBody(w http.ResponseWriter, sess *session) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":                        "urn:vcloud:session:" + stableID("session", sess.token),
		"user":                      map[string]string{"name": sess.user.Name, "id": sess.userID},
		"org":                       map[string]string{"name": sess.org.name, "id": orgURN(sess.org)},
		"roles":                     []string{sess.role()},
		"sessionIdleTimeoutMinutes": 30,
	})
}

// oauthToken trades an API token for a session, as VCD's /oauth/.../token does.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	base := s.tokens[r.PostForm.Get("refresh_token")]
	if base == nil || r.PostForm.Get("grant_type") != "refresh_token" {
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"unknown or revoked API token"}`))
		return
	}
	sess := *base
	sess.token = randomToken()
	s.sessions[sess.token] = &sess
	s.calls["login"]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": sess.token, "token_type": "Bearer", "expires_in": 2592000,
		"refresh_token": r.PostForm.Get("refresh_token")})
}

// api routes the authenticated XML API.
func (s *Server) api(w http.ResponseWriter, r *http.Request, sess *session) {
	toks := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/"), "/"), "/")
	s.mu.Lock()
	handled, err := s.route(w, r, sess, toks)
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	if handled {
		return
	}
	if s.forward(w, r, sess) {
		return
	}
	writeError(w, errf(http.StatusNotFound, "RESOURCE_NOT_FOUND", "%s %s not found", r.Method, r.URL.Path))
}

// route serves one API call with mu held. It reports false when no route matched.
func (s *Server) route(w http.ResponseWriter, r *http.Request, sess *session, t []string) (bool, *vcdError) {
	get, post, put, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodPut, r.Method == http.MethodDelete
	n := len(t)
	at := func(i int) string {
		if i < n {
			return t[i]
		}
		return ""
	}
	var op string
	switch {
	case get:
		op = "get"
		if at(0) == "query" {
			op = "query"
		}
	case at(0) == "vdc":
		op = "compose"
	case strings.HasSuffix(r.URL.Path, "/action/upload"):
		op = "upload"
	case strings.HasSuffix(r.URL.Path, "/action/captureVApp"):
		op = "capture"
	case strings.Contains(r.URL.Path, "recomposeVApp"):
		op = "recompose"
	case strings.Contains(r.URL.Path, "/power/") || strings.Contains(r.URL.Path, "undeploy"):
		op = "power"
	case del:
		op = "delete"
	case strings.Contains(r.URL.Path, "/metadata"):
		op = "metadata"
	default:
		op = "reconfigure"
	}
	// Faults hit VCD's own API, not the calls it relays to extensions nor the tasks they
	// write.
	if slices.Contains([]string{"org", "query", "vdc", "catalog", "catalogItem", "vAppTemplate", "network", "task", "vApp", "vdcStorageProfile"}, at(0)) &&
		(at(0) != "task" || get) {
		if at(0) == "task" {
			s.calls["task"]++
		} else {
			s.calls[op]++
		}
		if err := s.fault(op); err != nil {
			return true, err
		}
	}
	switch {
	case at(0) == "org" && n == 1 && get:
		return true, s.orgList(w, sess)
	case at(0) == "org" && n == 2 && get:
		return true, s.orgGet(w, sess, at(1))
	case at(0) == "query" && get:
		return true, s.query(w, r, sess)
	case at(0) == "vdc" && n == 2 && get:
		return true, s.vdcGet(w, sess, at(1))
	case at(0) == "vdc" && n == 4 && at(3) == "composeVApp" && post:
		return true, s.compose(w, r, sess, at(1))
	case at(0) == "catalog" && n >= 2:
		return true, s.catalogRoute(w, r, sess, at(1), t[2:])
	case at(0) == "admin" && at(1) == "catalog" && n == 3 && get:
		return true, s.catalogRoute(w, r, sess, at(2), nil)
	case at(0) == "catalogItem" && n >= 2:
		return true, s.itemRoute(w, r, sess, at(1), t[2:])
	case at(0) == "vAppTemplate" && n >= 2:
		return true, s.templateRoute(w, r, sess, at(1), t[2:])
	case at(0) == "network" && n == 2 && get:
		return true, s.networkGet(w, sess, at(1))
	case (at(0) == "vdcStorageProfile" && n == 2 || at(0) == "admin" && at(1) == "vdcStorageProfile" && n == 3) && get:
		return true, s.storageProfileGet(w, sess, t[n-1])
	case at(0) == "task" && n == 2:
		return true, s.taskRoute(w, r, sess, at(1))
	case at(0) == "task" && n == 4 && at(2) == "action" && at(3) == "cancel" && post:
		tk := s.tasks[at(1)]
		if tk == nil || !canSeeTask(sess, tk) {
			return true, forbidden("Task", at(1))
		}
		return true, s.cancelTask(w, sess, tk)
	case at(0) == "tasksList" && n == 2:
		return true, s.tasksListRoute(w, r, sess, at(1))
	case at(0) == "session" && n == 1:
		return true, s.sessionRoute(w, r, sess)
	case at(0) == "admin" && at(1) == "vdc" && n == 3 && get:
		return true, s.adminVdcGet(w, sess, at(2))
	case at(0) == "admin" && at(1) == "user" && n == 3 && get:
		return true, s.adminUserGet(w, sess, at(2))
	case at(0) == "vApp" && strings.HasPrefix(at(1), "vapp-"):
		return true, s.vappRoute(w, r, sess, strings.TrimPrefix(at(1), "vapp-"), t[2:])
	case at(0) == "vApp" && strings.HasPrefix(at(1), "vm-"):
		return true, s.vmRoute(w, r, sess, strings.TrimPrefix(at(1), "vm-"), t[2:])
	case at(0) == "admin" && at(1) == "extension" && at(2) == "service":
		if !sess.org.system() {
			return true, errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "only a provider may manage API extensions")
		}
		return true, s.extensionRoute(w, r, t[3:])
	}
	_, _ = put, del
	return false, nil
}

func (s *Server) visible(sess *session, o *org) bool { return sess.org.system() || sess.org == o }

func (s *Server) orgRef(o *org) *types.Org {
	return &types.Org{HREF: s.href("org/" + o.id), ID: orgURN(o), Name: o.name, Type: "application/vnd.vmware.vcloud.org+xml"}
}

func (s *Server) orgList(w http.ResponseWriter, sess *session) *vcdError {
	list := &types.OrgList{}
	for _, o := range s.orgs {
		if s.visible(sess, o) {
			list.Org = append(list.Org, s.orgRef(o))
		}
	}
	writeXML(w, 200, "application/vnd.vmware.vcloud.orgList+xml", "OrgList", list)
	return nil
}

func (s *Server) orgGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	for _, o := range s.orgs {
		if o.id == id && s.visible(sess, o) {
			out := s.orgRef(o)
			out.FullName, out.IsEnabled = o.name, true
			for _, d := range o.vdcs {
				out.Link = append(out.Link, &types.Link{Rel: "down", HREF: s.href("vdc/" + d.id), Name: d.name, Type: "application/vnd.vmware.vcloud.vdc+xml"})
			}
			out.Link = append(out.Link, &types.Link{Rel: "down", HREF: s.href("catalog/" + s.catalog.id), Name: s.catalog.name, Type: "application/vnd.vmware.vcloud.catalog+xml"})
			out.Link = append(out.Link, s.orgLinks(o)...)
			writeXML(w, 200, "application/vnd.vmware.vcloud.org+xml", "Org", out)
			return nil
		}
	}
	return forbidden("Org", id)
}

func (s *Server) vdcOf(sess *session, id string) (*vdc, *vcdError) {
	d := s.vdcs[id]
	if d == nil || !s.visible(sess, d.org) {
		return nil, forbidden("VDC", id)
	}
	return d, nil
}

func (s *Server) vdcGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	d, err := s.vdcOf(sess, id)
	if err != nil {
		return err
	}
	writeXML(w, 200, "application/vnd.vmware.vcloud.vdc+xml", "Vdc", s.vdcXML(d))
	return nil
}

func (s *Server) vdcXML(d *vdc) *types.Vdc {
	out := &types.Vdc{HREF: s.href("vdc/" + d.id), ID: "urn:vcloud:vdc:" + d.id, Name: d.name, Type: "application/vnd.vmware.vcloud.vdc+xml",
		Status: 1, IsEnabled: true, AllocationModel: "Flex"}
	out.Link = types.LinkList{
		{Rel: "up", HREF: s.href("org/" + d.org.id), Type: "application/vnd.vmware.vcloud.org+xml"},
		{Rel: "add", HREF: s.href("vdc/" + d.id + "/action/composeVApp"), Type: "application/vnd.vmware.vcloud.composeVAppParams+xml"},
	}
	ents := &types.ResourceEntities{}
	for _, a := range d.vapps {
		ents.ResourceEntity = append(ents.ResourceEntity, &types.ResourceReference{HREF: s.href("vApp/vapp-" + a.id), Name: a.name, Type: mimeVApp})
	}
	out.ResourceEntities = []*types.ResourceEntities{ents}
	nets := &types.AvailableNetworks{}
	for _, n := range d.networks {
		nets.Network = append(nets.Network, &types.Reference{HREF: s.href("network/" + n.id), Name: n.name, Type: "application/vnd.vmware.vcloud.network+xml"})
	}
	out.AvailableNetworks = []*types.AvailableNetworks{nets}
	s.vdcProfilesXML(d, out)
	return out
}

func (s *Server) networkGet(w http.ResponseWriter, sess *session, id string) *vcdError {
	n := s.networks[id]
	if n == nil || !s.visible(sess, n.vdc.org) {
		return forbidden("Network", id)
	}
	out := &types.OrgVDCNetwork{HREF: s.href("network/" + n.id), ID: "urn:vcloud:network:" + n.id, Name: n.name, Status: "1",
		Type: "application/vnd.vmware.vcloud.orgVdcNetwork+xml", Configuration: &types.NetworkConfiguration{FenceMode: types.FenceModeBridged,
			IPScopes: &types.IPScopes{IPScope: []*types.IPScope{{IsInherited: false, Gateway: n.gateway, Netmask: "255.255.0.0", IsEnabled: true,
				IPRanges: &types.IPRanges{IPRange: []*types.IPRange{{StartAddress: n.pool + ".0.10", EndAddress: n.pool + ".255.250"}}}}}}}}
	writeXML(w, 200, "application/vnd.vmware.vcloud.orgVdcNetwork+xml", "", out)
	return nil
}

func (s *Server) writeTask(w http.ResponseWriter, t *task) {
	writeXML(w, http.StatusAccepted, mimeTask, "Task", s.taskXML(t))
}

func (s *Server) writeMetadata(w http.ResponseWriter, owner string, m map[string]string) {
	out := &types.Metadata{Xmlns: nsVCloud, Xsi: "http://www.w3.org/2001/XMLSchema-instance", HREF: owner + "/metadata"}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out.MetadataEntry = append(out.MetadataEntry, &types.MetadataEntry{Key: k, HREF: owner + "/metadata/" + k,
			Domain:     &types.MetadataDomainTag{Visibility: "READWRITE", Domain: "GENERAL"},
			TypedValue: &types.MetadataTypedValue{XsiType: "MetadataStringValue", Value: m[k]}})
	}
	writeXML(w, 200, "application/vnd.vmware.vcloud.metadata+xml", "", out)
}

// metadataRoute serves …/metadata[/key] of a vApp or VM.
func (s *Server) metadataRoute(w http.ResponseWriter, r *http.Request, sub subject, owner, name, ownerType string, m map[string]string, rest []string,
	busy func(*task)) *vcdError {
	key := ""
	if len(rest) > 1 {
		key, _ = url.PathUnescape(rest[len(rest)-1])
		if rest[1] == "SYSTEM" && len(rest) > 2 {
			key = rest[2]
		}
	}
	switch {
	case r.Method == http.MethodGet && key == "":
		s.writeMetadata(w, owner, m)
	case r.Method == http.MethodGet:
		v, ok := m[key]
		if !ok {
			return errf(404, "RESOURCE_NOT_FOUND", "no metadata %q", key)
		}
		writeXML(w, 200, "application/vnd.vmware.vcloud.metadata.value+xml", "", &types.MetadataValue{Xmlns: nsVCloud,
			Xsi: "http://www.w3.org/2001/XMLSchema-instance", TypedValue: &types.MetadataTypedValue{XsiType: "MetadataStringValue", Value: v}})
	case r.Method == http.MethodPut && key != "":
		var in types.MetadataValue
		if err := readXML(r, &in); err != nil {
			return err
		}
		if in.TypedValue == nil {
			return errf(400, "BAD_REQUEST", "metadata value missing")
		}
		m[key] = in.TypedValue.Value
		t := s.newTask(sub, "metadataUpdate", "Updating metadata of "+name, owner, name, ownerType)
		busy(t)
		s.writeTask(w, t)
	case r.Method == http.MethodPost && key == "":
		// A merge: every entry given is set, the others are kept.
		var in types.Metadata
		if err := readXML(r, &in); err != nil {
			return err
		}
		for _, e := range in.MetadataEntry {
			if e == nil || e.Key == "" || e.TypedValue == nil {
				return errf(400, "BAD_REQUEST", "a metadata entry needs a key and a typed value")
			}
		}
		for _, e := range in.MetadataEntry {
			m[e.Key] = e.TypedValue.Value
		}
		t := s.newTask(sub, "metadataUpdate", "Updating metadata of "+name, owner, name, ownerType)
		busy(t)
		s.writeTask(w, t)
	case r.Method == http.MethodDelete && key != "":
		delete(m, key)
		t := s.newTask(sub, "metadataDelete", "Deleting metadata of "+name, owner, name, ownerType)
		busy(t)
		s.writeTask(w, t)
	default:
		return errf(405, "METHOD_NOT_ALLOWED", "%s not allowed on metadata", r.Method)
	}
	return nil
}

// behaviorsOffered reports whether the versions reach 36.0 (VCD 10.3), which brought
// defined-entity behaviors and entity type hooks. govcd's 37.0, listed below 36.0 only for
// govcd's sake, does not count.
func behaviorsOffered(versions []string) bool {
	return slices.Contains(versions, "36.0")
}
