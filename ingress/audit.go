package ingress

import (
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events/cse"
)

// audit answers kaas's GET /api/cse/3.0/audit, for providers: events (or, with
// kind=commands, commands) across clusters and orgs, filtered by org (URN or name), cluster,
// actor, type (repeatable or comma separated), since and until (RFC 3339), oldest first or
// with order=newest newest first, paged; or, with after=<seq>, a window of the records after
// that sequence (see auditWindow).
func (a *API) audit(c *call) reply {
	if bad := providerOnly(c, "the audit"); bad != nil {
		return *bad
	}
	p, bad := a.pageParams(c)
	if bad != nil {
		return *bad
	}
	q := p.Filters
	var err error
	aq := cse.AuditQuery{Actor: q.Get("actor"), NewestFirst: q.Get("order") == "newest"}
	if actor, ok := CanonicalURN("user", aq.Actor); ok {
		aq.Actor = actor // as recorded; kaas's own actors ("kaasd") are not URNs
	}
	switch q.Get("order") {
	case "", "oldest", "newest":
	default:
		return fail(http.StatusBadRequest, cse.MinorDefault, "order %q: use oldest or newest", q.Get("order"))
	}
	switch q.Get("kind") {
	case "", "events":
	case "commands":
		aq.Commands = true
	default:
		return fail(http.StatusBadRequest, cse.MinorDefault, "kind %q: use events or commands", q.Get("kind"))
	}
	if org := q.Get("org"); org != "" {
		var ok bool
		if aq.OrgID, ok = CanonicalURN("org", org); !ok {
			if aq.OrgID = a.cloud.OrgID(c.ctx, org); aq.OrgID == "" {
				return fail(http.StatusBadRequest, cse.MinorOrgNameInvalid, "org %q is not one kaas knows of", org)
			}
		}
	}
	if cl := q.Get("cluster"); cl != "" {
		id, valid := a.clusterID(c, cl)
		if !valid {
			return fail(http.StatusBadRequest, cse.MinorDefault, "cluster %q is not a cluster id", cl)
		}
		aq.ClusterID = id
	}
	for _, t := range q["type"] {
		for part := range strings.SplitSeq(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				aq.Types = append(aq.Types, part)
			}
		}
	}
	for name, dst := range map[string]*time.Time{"since": &aq.Since, "until": &aq.Until} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return fail(http.StatusBadRequest, cse.MinorDefault, "%s %q is not an RFC 3339 time such as 2026-11-24T10:00:00Z", name, v)
			}
		}
	}
	aq.Page, aq.PageSize = p.Page, p.PageSize
	if v := q.Get("after"); v != "" {
		// A cursor reads one window from a sequence on, however long the history is: the
		// way to export it. Counting every match would mean reading it all, so it does not.
		if aq.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fail(http.StatusBadRequest, cse.MinorDefault, "after %q is not a sequence number", v)
		}
		if aq.NewestFirst || q.Has("page") {
			return fail(http.StatusBadRequest, cse.MinorDefault, "after reads oldest first, a window at a time: it takes neither page nor order=newest")
		}
		aq.Cursor = true
	}
	res, err := a.history.Audit(c.ctx, aq)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	if aq.Cursor {
		return ok(http.StatusOK, auditWindow(res.Records, p))
	}
	return ok(http.StatusOK, cse.PageOf(res.Records, res.Total, p))
}

// auditWindow is the answer to a cursor read: up to a page of records and, when more
// remain, the link to the next window. resultTotal and pageCount are -1: not counted.
func auditWindow(recs []cse.Event, p cse.PageParams) cse.Page[cse.Event] {
	res := cse.Page[cse.Event]{ResultTotal: -1, PageCount: -1, Page: 1, PageSize: p.PageSize, Values: recs[:min(len(recs), p.PageSize)]}
	if len(recs) > p.PageSize {
		v := url.Values{}
		maps.Copy(v, p.Filters)
		v.Set("after", strconv.FormatUint(res.Values[len(res.Values)-1].Seq, 10))
		v.Set("pageSize", strconv.Itoa(p.PageSize))
		res.NextPageURI = p.Base + "?" + v.Encode()
	}
	return res
}

// verify answers kaas's GET /api/cse/3.0/audit/verify, for providers: every cluster's hash
// chain walked, and every place where the stored history is not what kaas wrote.
func (a *API) verify(c *call) reply {
	if bad := providerOnly(c, "verifying the history"); bad != nil {
		return *bad
	}
	res, err := a.history.Verify(c.ctx)
	if err != nil {
		return fail(http.StatusServiceUnavailable, cse.MinorDefault, "the history could not be read; try again: %v", err)
	}
	if !res.OK {
		c.log().Error("stored history does not match what kaas wrote", "problems", len(res.Problems))
	}
	return ok(http.StatusOK, res)
}
