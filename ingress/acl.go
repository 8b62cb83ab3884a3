package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// grantType is the only kind of ACL grant CSE's cluster ACLs use.
const grantType = "MembershipAccessControlGrant"

// aclEntry is one entry of CSE's cluster ACL, as GET answers it and PUT takes it. id,
// tenant and objectId are VCD's own fields, accepted (a client may send back what it read)
// and not kept.
type aclEntry struct {
	ID            string `json:"id,omitempty"`
	Tenant        any    `json:"tenant,omitempty"`
	ObjectID      string `json:"objectId,omitempty"`
	GrantType     string `json:"grantType"`
	MemberID      string `json:"memberId"`
	Username      string `json:"username,omitempty"`
	AccessLevelID string `json:"accessLevelId"`
}

// aclListEntry is one entry of GET acl's answer: the keys CSE answers with
// (CLUSTER_ACL_LIST_FIELDS), username always there, as its client matches users by it.
type aclListEntry struct {
	AccessLevelID string `json:"accessLevelId"`
	MemberID      string `json:"memberId"`
	Username      string `json:"username"`
}

// getACL answers GET cluster/{id}/acl: the users the cluster is shared with, paged, each
// named as VCD names it (or, for a user kaas has not read from VCD, as the sharer did).
func (a *API) getACL(c *call) reply {
	id, _, bad := a.target(c, cluster.LevelRead, "read the ACL of")
	if bad != nil {
		return *bad
	}
	acl, err := a.clusters.ACL(c.ctx, c.p, id)
	if err != nil {
		return fail(http.StatusNotFound, cse.MinorDefault, "cluster %s not found", c.args[0])
	}
	out := make([]aclListEntry, 0, len(acl))
	for _, e := range acl {
		out = append(out, aclListEntry{AccessLevelID: cluster.AccessLevelURN(e.AccessLevel), MemberID: e.MemberID, Username: e.Username})
	}
	return paged(a, c, out)
}

// putACL answers PUT cluster/{id}/acl: the whole list of users the cluster is shared with,
// replaced. Only someone with full control may share; the answer is CSE's 204.
func (a *API) putACL(c *call) reply {
	entries, bad := decodeACL(c)
	if bad != nil {
		return *bad
	}
	id, _, bad := a.target(c, cluster.LevelFull, "share")
	if bad != nil {
		return *bad
	}
	unlock := a.locks.lock("cluster/" + id)
	defer unlock()
	if _, again := a.redelivered(c); !again {
		if err := cluster.ValidateACL(entries); err != nil {
			return rejection(err)
		}
		if _, err := a.accept(c, id, events.SetClusterACL{Entries: entries}); err != nil {
			return unrecorded(err)
		}
	}
	return reply{status: http.StatusNoContent}
}

// decodeACL reads PUT acl's body, {"accessSetting": [entry, ...]}, strictly.
func decodeACL(c *call) ([]events.ACLEntry, *reply) {
	b, err := readBody(c.r)
	if err == nil && len(b) > cse.MaxBody {
		err = fmt.Errorf("body is larger than %d bytes", cse.MaxBody)
	}
	var in struct {
		AccessSetting *[]aclEntry `json:"accessSetting"`
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&in); err == nil && dec.More() {
			err = fmt.Errorf("trailing data after the JSON object")
		}
	}
	if err == nil && in.AccessSetting == nil {
		err = fmt.Errorf("accessSetting: missing: give the whole list of grants (empty to share with nobody)")
	}
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid ACL: %v", err)
		return nil, &r
	}
	out := make([]events.ACLEntry, 0, len(*in.AccessSetting))
	for i, e := range *in.AccessSetting {
		if e.GrantType != "" && e.GrantType != grantType {
			r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid ACL: accessSetting[%d].grantType %q: only %s is supported", i, e.GrantType, grantType)
			return nil, &r
		}
		level, ok := cluster.ParseAccessLevel(e.AccessLevelID)
		if !ok {
			r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid ACL: accessSetting[%d].accessLevelId %q is not ReadOnly, ReadWrite or FullControl", i, e.AccessLevelID)
			return nil, &r
		}
		// Canonical, as callers are: a share works whatever the case it was given in.
		member, ok := CanonicalURN("user", e.MemberID)
		if !ok {
			r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid ACL: accessSetting[%d].memberId %q is not a user URN (urn:vcloud:user:<uuid>)", i, e.MemberID)
			return nil, &r
		}
		out = append(out, events.ACLEntry{MemberID: member, Username: e.Username, AccessLevel: level})
	}
	return out, nil
}

// base is the absolute URL of the request's path on VCD's public address, for page links.
func (a *API) base(c *call) string { return a.absolute(c, c.r.URL.Path) }

// absolute is a path on VCD's public address, the host the caller reached VCD on (VCD
// relays it): the only VCD address kaas knows that the caller can reach. A request that
// did not come through VCD (kaasd call, tests) has none, and the path stays relative.
func (a *API) absolute(c *call, path string) string {
	if c.r.Host != "" {
		return "https://" + c.r.Host + path
	}
	return path
}
