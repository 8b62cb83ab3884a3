package kaasctl

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Media types: CSE's routes answer API versions 35.0 and 36.0, VCD's CloudAPI login wants
// 37.0 or newer.
const (
	acceptCSE   = "application/json;version=36.0"
	acceptLogin = "application/json;version=37.0"
)

// ErrSession is what a 401 means to a user: the stored session no longer works.
var ErrSession = errors.New("session expired or invalid: run kaasctl login")

// APIError is a refusal in CSE's error body, with the HTTP status it came with.
type APIError struct {
	Status      int
	MinorCode   int // CSE's minor error code; -1 (CSE's default) when the body names none
	Description string
}

func (e *APIError) Error() string {
	if e.MinorCode >= 0 {
		return fmt.Sprintf("%s (HTTP %d, minor code %d)", e.Description, e.Status, e.MinorCode)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Description, e.Status)
}

// Reply is a decoded answer together with the bytes it was decoded from, because -o json
// prints exactly what the API said.
type Reply[T any] struct {
	Value T
	Raw   json.RawMessage
	// Location is where the operation a change started can be followed, when it started one.
	Location string
}

// Client calls CSE's routes on VCD (/api/cse/...) in one session. Its methods map one to
// one to routes.
type Client struct {
	base  string // VCD's address, https://vcd.example.com
	token string
	hc    *http.Client
}

// NewClient returns a client of VCD at base (scheme and host, no /api) with a session's
// bearer token.
func NewClient(base, token string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: hc}
}

// response is one raw HTTP answer.
type response struct {
	status   int
	body     []byte
	location string
}

// do sends one call under /api and turns any non-2xx answer into an error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*response, error) {
	u := c.base + "/api/" + strings.TrimPrefix(path, "/")
	if strings.HasPrefix(path, "/api/") {
		u = c.base + path // an href the API handed out
	}
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", acceptCSE)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, u, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrSession
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, parseAPIError(resp.StatusCode, b)
	}
	return &response{status: resp.StatusCode, body: b, location: resp.Header.Get("Location")}, nil
}

// parseAPIError reads CSE's error body, {"message": {"minor error code": N, "error
// description": "…"}} or {"message": "…"}; anything else (a proxy's page, VCD's own
// error) is shown as it came, shortened.
func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status, MinorCode: -1}
	var env struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Message) > 0 {
		var inner struct {
			Minor *int   `json:"minor error code"`
			Desc  string `json:"error description"`
		}
		var s string
		switch {
		case json.Unmarshal(env.Message, &s) == nil:
			e.Description = s
		case json.Unmarshal(env.Message, &inner) == nil && inner.Desc != "":
			e.Description = inner.Desc
			if inner.Minor != nil {
				e.MinorCode = *inner.Minor
			}
		}
	}
	if e.Description == "" {
		e.Description = strings.TrimSpace(string(body))
		if len(e.Description) > 300 {
			e.Description = e.Description[:300] + "…"
		}
		if e.Description == "" {
			e.Description = http.StatusText(status)
		}
	}
	return e
}

// call does one route and decodes its JSON answer into T.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (Reply[T], error) {
	var r Reply[T]
	resp, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return r, err
	}
	r.Raw, r.Location = resp.body, resp.location
	if len(bytes.TrimSpace(resp.body)) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(resp.body, &r.Value); err != nil {
		return r, fmt.Errorf("%s %s: the answer is not what kaasctl expects: %w", method, path, err)
	}
	return r, nil
}

func pageQuery(page, size int) url.Values {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if size > 0 {
		q.Set("pageSize", strconv.Itoa(size))
	}
	return q
}

// Clusters is GET cse/3.0/clusters: every cluster the caller may see.
func (c *Client) Clusters(ctx context.Context) (Reply[[]Cluster], error) {
	return call[[]Cluster](ctx, c, http.MethodGet, "cse/3.0/clusters", nil, nil)
}

// Cluster is GET cse/3.0/cluster/{id}.
func (c *Client) Cluster(ctx context.Context, id string) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id), nil, nil)
}

// CreateCluster is POST cse/3.0/clusters with a v2.x entity; 202.
func (c *Client) CreateCluster(ctx context.Context, entity json.RawMessage) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodPost, "cse/3.0/clusters", nil, entity)
}

// UpdateCluster is PUT cse/3.0/cluster/{id} with the whole entity (CSE's apply); 202.
func (c *Client) UpdateCluster(ctx context.Context, id string, entity json.RawMessage) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodPut, "cse/3.0/cluster/"+url.PathEscape(id), nil, entity)
}

// DeleteCluster is DELETE cse/3.0/cluster/{id}; 202.
func (c *Client) DeleteCluster(ctx context.Context, id string) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodDelete, "cse/3.0/cluster/"+url.PathEscape(id), nil, nil)
}

// ForceDeleteCluster is POST cse/3.0/cluster/{id}/action/force-delete; 202.
func (c *Client) ForceDeleteCluster(ctx context.Context, id string) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodPost, "cse/3.0/cluster/"+url.PathEscape(id)+"/action/force-delete", nil, nil)
}

// Kubeconfig is GET cse/3.0/cluster/{id}/config: {"message": "<kubeconfig>"}.
func (c *Client) Kubeconfig(ctx context.Context, id string) (Reply[Message], error) {
	return call[Message](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id)+"/config", nil, nil)
}

// UpgradePlan is GET cse/3.0/cluster/{id}/upgrade-plan: the templates the cluster may move to.
func (c *Client) UpgradePlan(ctx context.Context, id string) (Reply[[]Template], error) {
	return call[[]Template](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id)+"/upgrade-plan", nil, nil)
}

// ClusterEvents is GET cse/3.0/cluster/{id}/events: one page of the cluster's history.
func (c *Client) ClusterEvents(ctx context.Context, id string, page, size int) (Reply[Page[Event]], error) {
	return call[Page[Event]](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id)+"/events", pageQuery(page, size), nil)
}

// ClusterACL is GET cse/3.0/cluster/{id}/acl: one page of the users it is shared with.
func (c *Client) ClusterACL(ctx context.Context, id string, page, size int) (Reply[Page[ACLEntry]], error) {
	return call[Page[ACLEntry]](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id)+"/acl", pageQuery(page, size), nil)
}

// SetClusterACL is PUT cse/3.0/cluster/{id}/acl: the whole list replaced; 204.
func (c *Client) SetClusterACL(ctx context.Context, id string, entries []ACLEntry) error {
	if entries == nil {
		entries = []ACLEntry{} // an empty list shares with nobody; null is refused
	}
	_, err := c.do(ctx, http.MethodPut, "cse/3.0/cluster/"+url.PathEscape(id)+"/acl", nil, map[string]any{"accessSetting": entries})
	return err
}

// Templates is GET cse/templates.
func (c *Client) Templates(ctx context.Context) (Reply[[]Template], error) {
	return call[[]Template](ctx, c, http.MethodGet, "cse/templates", nil, nil)
}

// ReloadTemplates is POST cse/templates/action/reload (providers); 202.
func (c *Client) ReloadTemplates(ctx context.Context) (Reply[Message], error) {
	return call[Message](ctx, c, http.MethodPost, "cse/templates/action/reload", nil, nil)
}

// Ovdcs is GET cse/3.0/ovdcs: the org VDCs the caller may see and their runtimes.
func (c *Client) Ovdcs(ctx context.Context) (Reply[[]Ovdc], error) {
	return call[[]Ovdc](ctx, c, http.MethodGet, "cse/3.0/ovdcs", nil, nil)
}

// SetOvdc is PUT cse/3.0/ovdc/{id}: the runtimes an org VDC is enabled for; 202.
func (c *Client) SetOvdc(ctx context.Context, id string, u OvdcUpdate) (Reply[Message], error) {
	return call[Message](ctx, c, http.MethodPut, "cse/3.0/ovdc/"+url.PathEscape(id), nil, u)
}

// System is GET cse/system.
func (c *Client) System(ctx context.Context) (Reply[SystemInfo], error) {
	return call[SystemInfo](ctx, c, http.MethodGet, "cse/system", nil, nil)
}

// SetSystem is PUT cse/system {"server_action": action}: enable, disable or stop.
func (c *Client) SetSystem(ctx context.Context, action string) (Reply[Message], error) {
	return call[Message](ctx, c, http.MethodPut, "cse/system", nil, map[string]string{"server_action": action})
}

// Operation is GET cse/3.0/operations/{id}; href is the Location a change answered with
// (or an operation id).
func (c *Client) Operation(ctx context.Context, href string) (Reply[Operation], error) {
	if !strings.HasPrefix(href, "/") && !strings.Contains(href, "://") {
		href = "cse/3.0/operations/" + url.PathEscape(href)
	}
	if u, err := url.Parse(href); err == nil && u.IsAbs() {
		href = u.EscapedPath() // VCD's public address may differ from the one logged in to
	}
	return call[Operation](ctx, c, http.MethodGet, href, nil, nil)
}

// UserID finds a user's URN by name through VCD's query API, as CSE's client did to share
// by name; "" when VCD knows no such user. Tenants see their own org's users.
func (c *Client) UserID(ctx context.Context, name string) (string, error) {
	u := c.base + "/api/query?type=user&format=records&pageSize=8&filter=name==" + url.QueryEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("find user %s: %w", name, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/*+xml;version=36.0")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("find user %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("find user %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("find user %s: VCD answered HTTP %d", name, resp.StatusCode)
	}
	var out struct {
		Records []struct {
			XMLName xml.Name
			Name    string `xml:"name,attr"`
			ID      string `xml:"id,attr"`
			Href    string `xml:"href,attr"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(b, &out); err != nil {
		return "", fmt.Errorf("find user %s: %w", name, err)
	}
	var ids []string
	for _, r := range out.Records {
		if (r.XMLName.Local != "UserRecord" && r.XMLName.Local != "AdminUserRecord") || !strings.EqualFold(r.Name, name) {
			continue
		}
		id := r.ID
		if i := strings.LastIndex(r.Href, "/"); id == "" && i >= 0 && i < len(r.Href)-1 {
			id = "urn:vcloud:user:" + r.Href[i+1:] // records of some VCD versions carry only the href
		}
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	// A provider sees every org's users, and two orgs may each have an alice.
	return "", fmt.Errorf("%d users are named %s (in several orgs): give the user's URN, one of %s", len(ids), name, strings.Join(ids, ", "))
}

// ClusterAsOf is GET cse/3.0/cluster/{id}?asOf=<time>: the cluster as it was then.
func (c *Client) ClusterAsOf(ctx context.Context, id string, at time.Time) (Reply[Cluster], error) {
	return call[Cluster](ctx, c, http.MethodGet, "cse/3.0/cluster/"+url.PathEscape(id), url.Values{"asOf": {at.Format(time.RFC3339Nano)}}, nil)
}

// Audit is kaas's GET cse/3.0/audit (providers): records across clusters and orgs, filtered
// and paged by query, or a window of them with after=<seq>.
func (c *Client) Audit(ctx context.Context, query url.Values) (Reply[Page[Event]], error) {
	return call[Page[Event]](ctx, c, http.MethodGet, "cse/3.0/audit", query, nil)
}

// VerifyHistory is kaas's GET cse/3.0/audit/verify (providers).
func (c *Client) VerifyHistory(ctx context.Context) (Reply[Verification], error) {
	return call[Verification](ctx, c, http.MethodGet, "cse/3.0/audit/verify", nil, nil)
}

// Replay is kaas's POST cse/3.0/admin/replay[?swap=true] (providers).
func (c *Client) Replay(ctx context.Context, swap bool) (Reply[ReplayReport], error) {
	var q url.Values
	if swap {
		q = url.Values{"swap": {"true"}}
	}
	return call[ReplayReport](ctx, c, http.MethodPost, "cse/3.0/admin/replay", q, nil)
}

// DeadLetters is kaas's GET cse/3.0/admin/dlq (providers): one page.
func (c *Client) DeadLetters(ctx context.Context, page, size int) (Reply[Page[DeadLetter]], error) {
	return call[Page[DeadLetter]](ctx, c, http.MethodGet, "cse/3.0/admin/dlq", pageQuery(page, size), nil)
}

// RetryDeadLetter is kaas's POST cse/3.0/admin/dlq/{seq}/action/retry; 202.
func (c *Client) RetryDeadLetter(ctx context.Context, seq uint64) (Reply[Message], error) {
	return call[Message](ctx, c, http.MethodPost, "cse/3.0/admin/dlq/"+strconv.FormatUint(seq, 10)+"/action/retry", nil, nil)
}

// DiscardDeadLetter is kaas's DELETE cse/3.0/admin/dlq/{seq}; 204.
func (c *Client) DiscardDeadLetter(ctx context.Context, seq uint64) error {
	_, err := c.do(ctx, http.MethodDelete, "cse/3.0/admin/dlq/"+strconv.FormatUint(seq, 10), nil, nil)
	return err
}
