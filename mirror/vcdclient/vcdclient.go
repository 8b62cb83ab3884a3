// Package vcdclient is the mirror's VCD: defined entities and their access controls through
// VCD's cloudapi, tasks, vApp sharing and users through its XML API, all in the session of
// a go-vcloud-director client logged in as the provider's service account.
//
// Requests are built and signed by go-vcloud-director (Client.NewRequestWithApiVersion) and
// sent here, rather than through its RDE helpers, because the mirror decides on what those
// helpers drop: the HTTP status (412 means read again, 404 gone, 5xx try later), the ETag,
// the Location of a create's task, and the query parameters (invokeHooks=false: kaas runs no
// behaviors). Task lists, task queries and task updates have no call in go-vcloud-director.
package vcdclient

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/mirror"
)

// Config says how to reach VCD.
type Config struct {
	// Login returns a govcd client logged in as the provider's service account; it is
	// called again when VCD says the session ended.
	Login func(ctx context.Context) (*govcd.VCDClient, error)
	// EntityType is the type of the clusters' entities; default CSE's 2.1.0.
	EntityType string
	// UserCacheFor bounds how often the users are listed again to name an unknown one.
	UserCacheFor time.Duration
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.EntityType == "" {
		c.EntityType = cse.EntityType
	}
	if c.UserCacheFor == 0 {
		c.UserCacheFor = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Login == nil {
		errs = append(errs, errors.New("no VCD login"))
	}
	if parts := strings.Split(c.EntityType, ":"); len(parts) != 6 || parts[0] != "urn" || parts[2] != "type" {
		errs = append(errs, fmt.Errorf("entity type %q is not urn:vcloud:type:<vendor>:<nss>:<version>", c.EntityType))
	}
	return errors.Join(errs...)
}

// Client implements mirror.VCD. It is safe for concurrent use.
type Client struct {
	cfg Config

	mu sync.Mutex
	vc *govcd.VCDClient

	users     sync.Mutex
	names     map[string]string // user URN → name
	listedAt  time.Time
	typePath  string // entities/types/<vendor>/<nss>/<version>
	createdAt string // entityTypes/<type id>
}

var _ mirror.VCD = (*Client)(nil)

// New logs in and returns the client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mirror VCD client: %w", err)
	}
	p := strings.Split(cfg.EntityType, ":")
	c := &Client{cfg: cfg, names: map[string]string{},
		typePath: "entities/types/" + p[3] + "/" + p[4] + "/" + p[5], createdAt: "entityTypes/" + cfg.EntityType}
	if _, err := c.client(ctx, true); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) client(ctx context.Context, fresh bool) (*govcd.VCDClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vc != nil && !fresh {
		return c.vc, nil
	}
	vc, err := c.cfg.Login(ctx)
	if err != nil {
		return nil, &mirror.Error{Op: "log in to VCD", Retryable: true, Err: err}
	}
	c.vc = vc
	return vc, nil
}

// base is VCD's address, https://host, as the session reaches it.
func base(vc *govcd.VCDClient) string {
	return strings.TrimSuffix(strings.TrimSuffix(vc.Client.VCDHREF.String(), "/"), "/api")
}

// request is one call.
type request struct {
	op     string // what it does, for errors
	method string
	path   string // from base: /cloudapi/1.0.0/…, /api/…
	query  map[string]string
	header map[string]string
	json   bool // a cloudapi call: JSON in and out
	body   any  // marshalled as JSON or XML
	ctype  string
	want   []int // statuses that are success
	gone   []int // statuses that mean the object is not there
}

// response is a call's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request in the session, logging in again once when VCD says the session ended.
func (c *Client) do(ctx context.Context, r request) (response, error) {
	vc, err := c.client(ctx, false)
	if err != nil {
		return response{}, err
	}
	resp, err := c.send(ctx, vc, r)
	if err == nil && resp.status == http.StatusUnauthorized {
		if vc, err = c.client(ctx, true); err != nil {
			return response{}, err
		}
		resp, err = c.send(ctx, vc, r)
	}
	if err != nil {
		return response{}, &mirror.Error{Op: r.op, Retryable: true, Err: err}
	}
	for _, s := range r.want {
		if resp.status == s {
			return resp, nil
		}
	}
	code, msg := errorBody(resp.body, r.json)
	e := &mirror.Error{Op: r.op, Status: resp.status, Code: code, Message: msg}
	for _, s := range r.gone {
		if resp.status == s {
			e.Err = mirror.ErrNotFound
			return resp, e
		}
	}
	switch resp.status {
	case http.StatusPreconditionFailed:
		e.Err = mirror.ErrConflict
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		e.Retryable = true
	default:
		e.Retryable = resp.status >= 500
	}
	return resp, e
}

func (c *Client) send(ctx context.Context, vc *govcd.VCDClient, r request) (response, error) {
	u, err := url.Parse(base(vc) + r.path)
	if err != nil {
		return response{}, err
	}
	var body io.Reader
	ctype := r.ctype
	if r.body != nil {
		var b []byte
		if r.json {
			b, err = json.Marshal(r.body)
			ctype = "application/json"
		} else {
			b, err = xml.Marshal(r.body)
			b = append([]byte(xml.Header), b...)
		}
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(b)
	}
	req := vc.Client.NewRequestWithApiVersion(r.query, r.method, *u, body, vc.Client.APIVersion)
	if r.json {
		req.Header.Set("Accept", "application/json;version="+vc.Client.APIVersion)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := vc.Client.Http.Do(req.WithContext(ctx))
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errorBody reads VCD's error: {"minorErrorCode","message"} from cloudapi, <Error
// minorErrorCode message/> from the XML API.
func errorBody(b []byte, isJSON bool) (code, msg string) {
	if isJSON {
		var e struct {
			MinorErrorCode string `json:"minorErrorCode"`
			Message        string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && (e.Message != "" || e.MinorErrorCode != "") {
			return e.MinorErrorCode, e.Message
		}
	} else {
		var e struct {
			MinorErrorCode string `xml:"minorErrorCode,attr"`
			Message        string `xml:"message,attr"`
		}
		if xml.Unmarshal(b, &e) == nil && (e.Message != "" || e.MinorErrorCode != "") {
			return e.MinorErrorCode, e.Message
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300]
	}
	return "", s
}

// tenantHeader makes a System-org call act in the tenant's org, as CSE's calls do.
func tenantHeader(t mirror.Tenant) map[string]string {
	if t.ID == "" {
		return nil
	}
	h := map[string]string{"X-VMWARE-VCLOUD-TENANT-CONTEXT": uuidOf(t.ID)}
	if t.Name != "" {
		h["X-VMWARE-VCLOUD-AUTH-CONTEXT"] = t.Name
	}
	return h
}

// uuidOf is the last part of a URN.
func uuidOf(urn string) string { return urn[strings.LastIndex(urn, ":")+1:] }

// --- entities ---

// entityJSON is a defined entity on cloudapi.
type entityJSON struct {
	ID         string         `json:"id,omitempty"`
	EntityType string         `json:"entityType,omitempty"`
	Name       string         `json:"name"`
	ExternalID *string        `json:"externalId"`
	Entity     map[string]any `json:"entity"`
	State      string         `json:"state,omitempty"`
	Owner      *refJSON       `json:"owner,omitempty"`
	Org        *refJSON       `json:"org,omitempty"`
	Message    string         `json:"message,omitempty"`
}

type refJSON struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id"`
}

func toJSON(e mirror.Entity, entityType string) entityJSON {
	out := entityJSON{ID: e.ID, EntityType: entityType, Name: e.Name, Entity: e.Content}
	if e.ExternalID != "" {
		ext := e.ExternalID
		out.ExternalID = &ext
	}
	if e.Owner != "" {
		out.Owner = &refJSON{ID: e.Owner}
	}
	return out
}

func fromJSON(j entityJSON, etag string) mirror.Entity {
	e := mirror.Entity{ID: j.ID, Name: j.Name, Content: j.Entity, State: j.State, ETag: etag}
	if j.ExternalID != nil {
		e.ExternalID = *j.ExternalID
	}
	if j.Owner != nil {
		e.Owner = j.Owner.ID
	}
	if j.Org != nil {
		e.Org = j.Org.ID
	}
	return e
}

// noHooks: kaas runs no behaviors; the hooks CSE registered would wait for a CSE server.
var noHooks = map[string]string{"invokeHooks": "false"}

// CreateEntity posts the entity to its type; VCD answers with the task that made it, whose
// owner is the new entity.
func (c *Client) CreateEntity(ctx context.Context, t mirror.Tenant, e mirror.Entity) (string, error) {
	resp, err := c.do(ctx, request{op: "create entity " + e.Name, method: http.MethodPost, path: "/cloudapi/1.0.0/" + c.createdAt,
		query: noHooks, header: tenantHeader(t), json: true, body: toJSON(e, c.cfg.EntityType), want: []int{http.StatusAccepted, http.StatusOK, http.StatusCreated}})
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusAccepted { // a VCD that answers with the entity itself
		var j entityJSON
		if err := json.Unmarshal(resp.body, &j); err == nil && j.ID != "" {
			return j.ID, nil
		}
	}
	loc := resp.header.Get("Location")
	if loc == "" {
		return "", &mirror.Error{Op: "create entity " + e.Name, Status: resp.status, Message: "VCD named no task (Location) for the create"}
	}
	task, err := c.taskAt(ctx, "read the create task of entity "+e.Name, loc)
	if err != nil {
		return "", err
	}
	if id := task.Owner.ID; strings.HasPrefix(id, entityURN) {
		return id, nil
	}
	return "", &mirror.Error{Op: "create entity " + e.Name, Message: fmt.Sprintf("the create task %s names no entity as its owner", task.ID)}
}

// Entity reads one entity and its ETag. VCD answers 403 for an entity that does not exist.
func (c *Client) Entity(ctx context.Context, id string) (mirror.Entity, error) {
	resp, err := c.do(ctx, request{op: "read entity " + id, method: http.MethodGet, path: "/cloudapi/1.0.0/entities/" + id, json: true,
		want: []int{http.StatusOK}, gone: []int{http.StatusNotFound, http.StatusForbidden}})
	if err != nil {
		return mirror.Entity{}, err
	}
	var j entityJSON
	if err := json.Unmarshal(resp.body, &j); err != nil {
		return mirror.Entity{}, &mirror.Error{Op: "read entity " + id, Status: resp.status, Message: "unreadable entity: " + err.Error()}
	}
	return fromJSON(j, resp.header.Get("ETag")), nil
}

// page is VCD's paged list.
type page struct {
	ResultTotal int               `json:"resultTotal"`
	PageCount   int               `json:"pageCount"`
	Page        int               `json:"page"`
	Values      []json.RawMessage `json:"values"`
}

// list pages through a cloudapi list, calling fn with each value until it returns false.
func (c *Client) list(ctx context.Context, op, path string, query map[string]string, fn func(json.RawMessage) bool) error {
	for n := 1; ; n++ {
		q := map[string]string{"page": strconv.Itoa(n), "pageSize": "100"}
		for k, v := range query {
			q[k] = v
		}
		resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: q, json: true, want: []int{http.StatusOK}})
		if err != nil {
			return err
		}
		var p page
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return &mirror.Error{Op: op, Status: resp.status, Message: "unreadable page: " + err.Error()}
		}
		for _, v := range p.Values {
			if !fn(v) {
				return nil
			}
		}
		if len(p.Values) == 0 || (p.PageCount > 0 && n >= p.PageCount) {
			return nil
		}
	}
}

// FindEntities lists the entities whose status.kaas.clusterId is the cluster's.
func (c *Client) FindEntities(ctx context.Context, clusterID string) ([]mirror.Entity, error) {
	var out []mirror.Entity
	var bad error
	err := c.list(ctx, "find the entities of cluster "+clusterID, "/cloudapi/1.0.0/"+c.typePath,
		map[string]string{"filter": "entity.status.kaas.clusterId==" + clusterID}, func(v json.RawMessage) bool {
			var j entityJSON
			if bad = json.Unmarshal(v, &j); bad != nil {
				return false
			}
			out = append(out, fromJSON(j, ""))
			return true
		})
	if err == nil && bad != nil {
		err = &mirror.Error{Op: "find the entities of cluster " + clusterID, Message: "unreadable entity: " + bad.Error()}
	}
	return out, err
}

// Entities lists every entity of the type.
func (c *Client) Entities(ctx context.Context, fn func(mirror.Entity) bool) error {
	return c.list(ctx, "list the entities", "/cloudapi/1.0.0/"+c.typePath, nil, func(v json.RawMessage) bool {
		var j entityJSON
		if json.Unmarshal(v, &j) != nil {
			return true // not one kaas can read, so not kaas's
		}
		return fn(fromJSON(j, ""))
	})
}

// UpdateEntity puts the entity if its ETag is still e.ETag.
func (c *Client) UpdateEntity(ctx context.Context, e mirror.Entity) (mirror.Entity, error) {
	h := map[string]string{}
	if e.ETag != "" {
		h["If-Match"] = e.ETag
	}
	resp, err := c.do(ctx, request{op: "update entity " + e.ID, method: http.MethodPut, path: "/cloudapi/1.0.0/entities/" + e.ID, query: noHooks,
		header: h, json: true, body: toJSON(e, c.cfg.EntityType), want: []int{http.StatusOK, http.StatusAccepted},
		gone: []int{http.StatusNotFound, http.StatusForbidden}})
	if err != nil {
		return mirror.Entity{}, err
	}
	var j entityJSON
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &j) != nil || j.ID == "" || resp.header.Get("ETag") == "" {
		return c.Entity(ctx, e.ID) // as stored, with its new ETag
	}
	return fromJSON(j, resp.header.Get("ETag")), nil
}

// ResolveEntity validates the entity against its type.
func (c *Client) ResolveEntity(ctx context.Context, id string) (mirror.Entity, error) {
	resp, err := c.do(ctx, request{op: "resolve entity " + id, method: http.MethodPost, path: "/cloudapi/1.0.0/entities/" + id + "/resolve",
		json: true, want: []int{http.StatusOK}, gone: []int{http.StatusNotFound, http.StatusForbidden}})
	if err != nil {
		return mirror.Entity{}, err
	}
	var j entityJSON
	if err := json.Unmarshal(resp.body, &j); err != nil || j.State == "" {
		return c.Entity(ctx, id)
	}
	if j.Message != "" && j.State != mirror.StateResolved {
		c.cfg.Logger.Warn("VCD could not resolve an entity", "entity", id, "state", j.State, "message", j.Message)
	}
	return fromJSON(j, resp.header.Get("ETag")), nil
}

// DeleteEntity removes the entity.
func (c *Client) DeleteEntity(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{op: "delete entity " + id, method: http.MethodDelete, path: "/cloudapi/1.0.0/entities/" + id, query: noHooks,
		json: true, want: []int{http.StatusNoContent, http.StatusOK, http.StatusAccepted}, gone: []int{http.StatusNotFound, http.StatusForbidden}})
	return err
}

// accessControlJSON is one grant on cloudapi.
type accessControlJSON struct {
	ID            string   `json:"id,omitempty"`
	Tenant        *refJSON `json:"tenant,omitempty"`
	GrantType     string   `json:"grantType"`
	AccessLevelID string   `json:"accessLevelId"`
	MemberID      string   `json:"memberId"`
}

// AccessControls lists the entity's grants.
func (c *Client) AccessControls(ctx context.Context, entityID string) ([]mirror.AccessControl, error) {
	var out []mirror.AccessControl
	err := c.list(ctx, "list the access controls of entity "+entityID, "/cloudapi/1.0.0/entities/"+entityID+"/accessControls", nil,
		func(v json.RawMessage) bool {
			var a accessControlJSON
			if json.Unmarshal(v, &a) == nil {
				out = append(out, mirror.AccessControl{ID: a.ID, MemberID: a.MemberID, AccessLevelID: a.AccessLevelID})
			}
			return true
		})
	return out, err
}

// AddAccessControl grants a user of the entity's org access, as CSE's share does.
func (c *Client) AddAccessControl(ctx context.Context, t mirror.Tenant, entityID string, ac mirror.AccessControl) error {
	_, err := c.do(ctx, request{op: "share entity " + entityID, method: http.MethodPost, path: "/cloudapi/1.0.0/entities/" + entityID + "/accessControls",
		header: tenantHeader(t), json: true, body: accessControlJSON{GrantType: "MembershipAccessControlGrant", AccessLevelID: ac.AccessLevelID, MemberID: ac.MemberID},
		want: []int{http.StatusOK, http.StatusCreated}})
	return err
}

// RemoveAccessControl removes one grant.
func (c *Client) RemoveAccessControl(ctx context.Context, entityID, aclID string) error {
	_, err := c.do(ctx, request{op: "unshare entity " + entityID, method: http.MethodDelete, path: "/cloudapi/1.0.0/entities/" + entityID + "/accessControls/" + aclID,
		json: true, want: []int{http.StatusNoContent, http.StatusOK}, gone: []int{http.StatusNotFound}})
	return err
}
