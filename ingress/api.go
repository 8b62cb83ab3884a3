package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
)

// Commands is where accepted changes go: the JetStream command stream. AppendCommand
// returns once the command is durable; msgID dedupes a redelivered request.
type Commands interface {
	AppendCommand(ctx context.Context, env events.Envelope, msgID string) (seq uint64, duplicate bool, err error)
}

// StreamEnds tells the last sequences of the command and event streams, which every
// instance appends to.
type StreamEnds interface {
	LastSequences(ctx context.Context) (commands, events uint64, err error)
}

// Reader is every read the API makes of the views, one small interface per concern, each
// declared beside the handlers that use it. Deploy wires it to package queries, which
// answers them all; New takes them together so that no concern can be left unwired.
type Reader interface {
	ClusterReader
	OperationReader
	CloudReader
	TemplateReader
}

// ErrNotFound is what a Reader's errors wrap for a missing cluster or operation.
var ErrNotFound = cluster.ErrNotFound

// SystemOrg is the URN of VCD's System org, the same in every VCD installation.
const SystemOrg = "urn:vcloud:org:a93c9db9-7471-3192-8d09-a8f7eeda85f9"

// Config tunes the API.
type Config struct {
	// Versions are the API versions served, oldest first.
	Versions []string
	// SyncTimeout bounds how long a request waits for the views to catch up with the
	// commands this process appended (read your writes).
	SyncTimeout time.Duration
	// TaskWait bounds how long the answer to a change waits for the VCD task of its
	// operation (made by the VCD mirror), to show it as status.taskHref; past it, the answer
	// shows kaas's own operation href. 0: 5s; negative: no wait.
	TaskWait time.Duration
	// ProviderOrg is the URN of VCD's System org: its users are providers, who see and
	// manage every org's clusters.
	ProviderOrg string
	// RightIDs maps right URNs to the names of CSE's rights bundle, for a VCD whose security
	// context lists rights by URN: kaas checks rights by name. It is the provider's override
	// (KAAS_RIGHT_IDS): for a URN it names, it wins over what SetRightIDs learned.
	RightIDs map[string]string
	// Version is kaas's version, shown by GET /api/cse/system.
	Version string
	// Admin, when set, serves the provider's operations on the process itself: replay,
	// graceful stop, running configuration.
	Admin Admin
	// DeadLetters, when set, serves the dead-letter routes.
	DeadLetters DeadLetterQueue
	// Shared, when set, says other instances append to the same streams: every read then
	// first waits (within SyncTimeout) for the views to reach both streams' ends as they are
	// when the read begins, so that a change another instance answered 202 for, and what
	// another instance's executor recorded, show in this one's answers. Unset, a read waits
	// only for this process's own commands.
	Shared StreamEnds
	// Names, when set, reserves cluster names across the instances that share the streams
	// (see NameClaims); set it whenever Shared is.
	Names NameClaims
	// History serves the reads of the recorded history (a cluster's events, as-of, audit,
	// verify; package history answers them); nil answers them 503.
	History HistoryReader
	Logger  *slog.Logger
	Metrics *Metrics
}

func (c *Config) setDefaults() {
	if len(c.Versions) == 0 {
		c.Versions = []string{"35.0", "36.0"}
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = 3 * time.Second
	}
	if c.TaskWait == 0 {
		c.TaskWait = 5 * time.Second
	}
	if c.ProviderOrg == "" {
		c.ProviderOrg = SystemOrg
	}
	// Callers' orgs are canonical, and compared with this one exactly.
	if org, ok := CanonicalURN("org", c.ProviderOrg); ok {
		c.ProviderOrg = org
	}
	ids := make(map[string]string, len(c.RightIDs))
	for urn, name := range c.RightIDs {
		ids[strings.ToLower(urn)] = name
	}
	c.RightIDs = ids
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// wellFormedVersion reports whether v is an API version of the form 36.0.
func wellFormedVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	_, err1 := strconv.ParseUint(major, 10, 16)
	_, err2 := strconv.ParseUint(minor, 10, 16)
	return ok && err1 == nil && err2 == nil
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	for _, v := range c.Versions {
		if !wellFormedVersion(v) {
			errs = append(errs, fmt.Errorf("API version %q is not of the form 36.0", v))
		}
	}
	if _, ok := CanonicalURN("org", c.ProviderOrg); !ok {
		errs = append(errs, fmt.Errorf("provider org %q is not an org URN (urn:vcloud:org:<uuid>)", c.ProviderOrg))
	}
	if c.SyncTimeout < 10*time.Millisecond || c.SyncTimeout > 8*time.Second {
		errs = append(errs, fmt.Errorf("sync timeout %s must be between 10ms and 8s (VCD gives up after 10s)", c.SyncTimeout))
	}
	if c.TaskWait > 8*time.Second {
		errs = append(errs, fmt.Errorf("task wait %s must be at most 8s (VCD gives up after 10s)", c.TaskWait))
	}
	return errors.Join(errs...)
}

// API is the whole CSE-compatible REST API as one http.Handler.
type API struct {
	cfg      Config
	commands Commands
	// The reads, by concern (the views' as one Reader, the recorded history's apart): a
	// handler names the concern it reads.
	clusters  ClusterReader
	ops       OperationReader
	cloud     CloudReader
	templates TemplateReader
	history   HistoryReader
	routes    []route
	locks     keyedMutex
	recent    recentSeqs
	inFlight  atomic.Int64 // requests being served, for GET /api/cse/system
	// learned maps right URNs to names as read from VCD (SetRightIDs). The map is replaced
	// whole and never changed in place, so requests read it without a lock.
	learned atomic.Pointer[map[string]string]
}

// New returns the API.
func New(cfg Config, commands Commands, reader Reader) (*API, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingress config: %w", err)
	}
	a := &API{cfg: cfg, commands: commands,
		clusters: reader, ops: reader, cloud: reader, templates: reader, history: cfg.History}
	if a.history == nil {
		a.history = noHistory{}
	}
	all := cfg.Versions
	a.routes = []route{
		{name: "clusters", pattern: []string{"cse", "3.0", "clusters"}, versions: all, methods: map[string]handler{
			http.MethodGet:  {"list_clusters", a.listClusters},
			http.MethodPost: {"create_cluster", a.createCluster},
		}},
		{name: "nativeclusters", pattern: []string{"cse", "3.0", "nativeclusters"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_native_clusters", a.pageClusters},
		}},
		{name: "cluster", pattern: []string{"cse", "3.0", "cluster", "{}"}, versions: all, methods: map[string]handler{
			http.MethodGet:    {"get_cluster", a.getCluster},
			http.MethodPut:    {"update_cluster", a.updateCluster},
			http.MethodDelete: {"delete_cluster", a.deleteCluster},
		}},
		{name: "config", pattern: []string{"cse", "3.0", "cluster", "{}", "config"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"get_kubeconfig", a.getKubeconfig},
		}},
		{name: "force-delete", pattern: []string{"cse", "3.0", "cluster", "{}", "action", "force-delete"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"force_delete_cluster", a.forceDelete},
		}},
		{name: "acl", pattern: []string{"cse", "3.0", "cluster", "{}", "acl"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_cluster_acl", a.getACL},
			http.MethodPut: {"update_cluster_acl", a.putACL},
		}},
		{name: "upgrade-plan", pattern: []string{"cse", "3.0", "cluster", "{}", "upgrade-plan"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"get_cluster_upgrade_plan", a.upgradePlan},
		}},
		{name: "upgrade", pattern: []string{"cse", "3.0", "cluster", "{}", "action", "upgrade"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"upgrade_cluster", a.upgradeAction},
		}},
		{name: "nfs", pattern: []string{"cse", "3.0", "cluster", "{}", "nfs", "{}"}, versions: all, methods: map[string]handler{
			http.MethodDelete: {"delete_nfs_node", a.deleteNFSNode},
		}},
		{name: "events", pattern: []string{"cse", "3.0", "cluster", "{}", "events"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_cluster_events", a.clusterEvents},
		}},
		{name: "system", pattern: []string{"cse", "system"}, versions: all, anyVersion: true, methods: map[string]handler{
			http.MethodGet: {"get_system", a.getSystem},
			http.MethodPut: {"update_system", a.putSystem},
		}},
		{name: "system-config", pattern: []string{"cse", "system", "config"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"get_system_config", a.getSystemConfig},
		}},
		{name: "templates-tkgm", pattern: []string{"cse", "templates", "tkgm"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_tkgm_templates", a.getTKGmTemplates},
		}},
		{name: "templates", pattern: []string{"cse", "templates"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_templates", a.getTemplates},
		}},
		{name: "templates-reload", pattern: []string{"cse", "templates", "action", "reload"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"reload_templates", a.reloadTemplates},
		}},
		{name: "ovdcs", pattern: []string{"cse", "3.0", "ovdcs"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_ovdcs", a.listOvdcs},
		}},
		{name: "ovdc", pattern: []string{"cse", "3.0", "ovdc", "{}"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"get_ovdc", a.getOvdc},
			http.MethodPut: {"update_ovdc", a.putOvdc},
		}},
		{name: "orgvdcs", pattern: []string{"cse", "3.0", "orgvdcs"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_org_vdcs", a.listOrgVdcs},
		}},
		{name: "audit", pattern: []string{"cse", "3.0", "audit"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"audit", a.audit},
		}},
		{name: "audit-verify", pattern: []string{"cse", "3.0", "audit", "verify"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"audit_verify", a.verify},
		}},
		{name: "replay", pattern: []string{"cse", "3.0", "admin", "replay"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"replay", a.replay},
		}},
		{name: "dlq", pattern: []string{"cse", "3.0", "admin", "dlq"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"list_dead_letters", a.listDeadLetters},
		}},
		{name: "dlq-entry", pattern: []string{"cse", "3.0", "admin", "dlq", "{}"}, versions: all, methods: map[string]handler{
			http.MethodDelete: {"discard_dead_letter", a.discardDeadLetter},
		}},
		{name: "dlq-retry", pattern: []string{"cse", "3.0", "admin", "dlq", "{}", "action", "retry"}, versions: all, methods: map[string]handler{
			http.MethodPost: {"retry_dead_letter", a.retryDeadLetter},
		}},
		{name: "operation", pattern: []string{"cse", "3.0", "operation", "{}"}, versions: all, methods: map[string]handler{
			http.MethodGet: {"get_operation", a.getOperation},
		}},
	}
	a.routes = append(a.routes, a.templateRoutes(all)...)
	return a, nil
}

// call is one request being served.
type call struct {
	ctx       context.Context
	r         *http.Request
	args      []string
	caller    Caller
	p         cluster.Principal // who asks, for authorization
	orgID     string            // the org a change is for, when not the caller's (a provider's)
	requestID string            // VCD's; the audit shows it as the correlation id
	version   string
	// The request's log attributes; the logger is built only when a line is written.
	base  *slog.Logger
	attrs []any
	// opLogged is set once attrs name the route's operation.
	opLogged bool
	log_     *slog.Logger
	cmdID    string
}

// requestKey is what the ids of a request's command and cluster derive from: VCD's request
// id, scoped to who sent it and what it asked for. A redelivery of the request derives the
// same ids, and so appends nothing new; another caller who reuses the id, or the same
// caller on another route, derives others, and never gets the first request's answer.
func (c *call) requestKey() string {
	// User, org (both canonical URNs), method (a token) and path (no control characters)
	// hold no NUL, so the key is unambiguous with the request id, which may, last.
	return c.caller.Org + "\x00" + c.caller.User + "\x00" + c.r.Method + "\x00" + c.r.URL.EscapedPath() + "\x00" + c.requestID
}

// commandID is the id of the command this request makes, derived from the request key so
// that a redelivery makes the same one. It is also the command's JetStream dedupe key.
func (c *call) commandID() string {
	if c.cmdID == "" {
		c.cmdID = events.DeriveID("command", c.requestKey())
	}
	return c.cmdID
}

// log returns the request's logger: every line carries the VCD request id, so one grep
// follows one request.
func (c *call) log() *slog.Logger {
	if c.log_ == nil {
		c.log_ = c.base.With(c.attrs...)
	}
	return c.log_
}

// reply is a handler's answer.
type reply struct {
	status   int
	body     any
	location string
	allow    string // the Allow header of a 405
	reason   string // why a 4xx, for the log line
}

func ok(status int, body any) reply { return reply{status: status, body: body} }

func fail(status, minor int, format string, args ...any) reply {
	msg := fmt.Sprintf(format, args...)
	return reply{status: status, body: cse.NewError(minor, msg), reason: msg}
}

// ServeHTTP routes a request as CSE's dispatcher does: no path is 404, a path without the
// method is 405, an Accept kaas cannot serve is 406.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	c := &call{ctx: r.Context(), r: r}
	c.requestID, _ = RequestIDFrom(r.Context())
	if c.requestID == "" {
		c.requestID = r.Header.Get("X-Vmware-Vcloud-Request-Id")
	}
	if c.requestID == "" {
		c.requestID = "kaas-" + uuid.NewString() // not from VCD: no redelivery to dedupe
	}
	c.base, c.attrs = a.cfg.Logger, []any{"request_id", c.requestID, "method", r.Method, "path", r.URL.Path}

	op, rep := a.dispatch(c)
	a.write(w, c, rep)
	a.cfg.Metrics.observe(op, rep.status, time.Since(start))
	if !c.opLogged {
		c.attrs = append(c.attrs, "op", op)
	}
	switch {
	case rep.status >= 500:
		c.log().Error("request failed", "status", rep.status, "reason", rep.reason)
	case rep.status >= 400:
		c.log().Warn("request refused", "status", rep.status, "reason", rep.reason)
	case a.cfg.Logger.Enabled(c.ctx, slog.LevelDebug):
		c.log().Debug("request served", "status", rep.status, "took", time.Since(start))
	}
}

func (a *API) dispatch(c *call) (op string, rep reply) {
	rt, args := match(a.routes, c.r.URL.Path)
	if rt == nil {
		return "not_found", fail(http.StatusNotFound, cse.MinorDefault, "Invalid url - not found: %s", c.r.URL.Path)
	}
	h, ok := rt.methods[c.r.Method]
	if !ok {
		rep := fail(http.StatusMethodNotAllowed, cse.MinorDefault, "Method not allowed: %s %s (allowed: %s)", c.r.Method, c.r.URL.Path, rt.allow())
		rep.allow = rt.allow()
		return "method_not_allowed", rep
	}
	accept := c.r.Header.Get("Accept")
	if !jsonAcceptable(accept) {
		return h.op, fail(http.StatusNotAcceptable, cse.MinorDefault, "CSE can only serve response as json.")
	}
	v, vok := negotiate(accept, rt.versions)
	if !vok && rt.anyVersion && wellFormedVersion(v) {
		vok = true
	}
	if !vok {
		return h.op, fail(http.StatusNotAcceptable, cse.MinorDefault, "Invalid api version specified (%s). Expected api version '%s'.", v, strings.Join(rt.versions, "', '"))
	}
	caller, has := CallerFrom(c.ctx)
	if !has || caller.User == "" || caller.Org == "" {
		return h.op, fail(http.StatusUnauthorized, cse.MinorDefault, "the request carries no VCD security context (user and org)")
	}
	// The AMQP edge hands over canonical URNs; any other transport gets the same check, so
	// that every comparison from here on can be exact. Malformed is refused: fail closed.
	user, uok := CanonicalURN("user", caller.User)
	org, ook := CanonicalURN("org", caller.Org)
	if !uok || !ook {
		return h.op, fail(http.StatusUnauthorized, cse.MinorDefault, "the request's VCD security context does not name a user and an org by URN (urn:vcloud:user:<uuid>, urn:vcloud:org:<uuid>)")
	}
	caller.User, caller.Org = user, org
	c.args, c.caller, c.version = args, caller, v
	c.p = cluster.Principal{User: caller.User, Org: caller.Org, Rights: a.rightNames(caller.Rights), Provider: caller.Org == a.cfg.ProviderOrg}
	c.attrs, c.opLogged = append(c.attrs, "user", caller.User, "org", caller.Org, "op", h.op), true
	if rt.name != "system" && !a.cloud.ServiceEnabled(c.ctx) {
		return h.op, fail(http.StatusBadRequest, cse.MinorDefault, disabledMessage)
	}
	defer func() {
		if p := recover(); p != nil {
			c.log().Error("handler panic", "panic", p)
			rep = fail(http.StatusInternalServerError, cse.MinorDefault, "internal error (request %s)", c.requestID)
		}
	}()
	return h.op, h.fn(c)
}

func (a *API) write(w http.ResponseWriter, c *call, rep reply) {
	if c.version == "35.0" {
		rep.body = v1Bodies(rep.body)
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		rep.status = http.StatusInternalServerError
		b, _ = json.Marshal(cse.NewError(cse.MinorDefault, "internal error: "+err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	if c.version != "" {
		w.Header().Set("Content-Type", "application/json;version="+c.version)
	}
	if rep.location != "" {
		w.Header().Set("Location", rep.location)
	}
	if rep.allow != "" {
		w.Header().Set("Allow", rep.allow)
	}
	w.WriteHeader(rep.status)
	if rep.status != http.StatusNoContent {
		_, _ = w.Write(b)
	}
}

// readBody reads a request body, bounded.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, cse.MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// decodeStrict reads a small JSON body into v, refusing unknown fields.
func decodeStrict(c *call, v any) *reply {
	b, err := readBody(c.r)
	if err == nil && len(b) > cse.MaxBody {
		err = fmt.Errorf("body is larger than %d bytes", cse.MaxBody)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil && dec.More() {
			err = fmt.Errorf("trailing data after the JSON object")
		}
	}
	if err != nil {
		r := fail(http.StatusBadRequest, cse.MinorDefault, "invalid request body: %v", err)
		return &r
	}
	return nil
}

// clusterID reads a cluster route's {id}: kaas's URN or bare id, or the URN of the
// cluster's VCD entity.
func (a *API) clusterID(c *call, arg string) (string, bool) {
	id, valid := cse.ParseClusterID(arg)
	if !valid {
		return "", false
	}
	return a.clusters.ResolveCluster(c.ctx, id), true
}

// keyedMutex serializes work on one key (a cluster, a name) without a global lock.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// org is the org the request's change is for: the caller's, unless a provider creates in a
// tenant's org.
func (c *call) org() string {
	if c.orgID != "" {
		return c.orgID
	}
	return c.caller.Org
}

// SetRightIDs replaces the right URN → name map learned from VCD. Safe to call while
// requests are served; Config.RightIDs still wins for the URNs it names.
func (a *API) SetRightIDs(ids map[string]string) {
	m := make(map[string]string, len(ids))
	for urn, name := range ids {
		m[strings.ToLower(urn)] = name
	}
	a.learned.Store(&m)
}

// rightNames adds, for each right given by URN, its name: the override's, else the one
// learned from VCD.
func (a *API) rightNames(rights []string) []string {
	var learned map[string]string
	if p := a.learned.Load(); p != nil {
		learned = *p
	}
	if len(a.cfg.RightIDs) == 0 && len(learned) == 0 {
		return rights
	}
	out := slices.Clone(rights)
	for _, r := range rights {
		key := strings.ToLower(r)
		if name, ok := a.cfg.RightIDs[key]; ok {
			out = append(out, name)
		} else if name, ok := learned[key]; ok {
			out = append(out, name)
		}
	}
	return out
}

// v1Bodies renders cluster answers in CSE 3.0's v1.0 entity, as API 35.0 clients expect.
func v1Bodies(body any) any {
	switch b := body.(type) {
	case cse.DefEntity:
		return cse.ToV1(b)
	case []cse.DefEntity:
		out := make([]cse.DefEntityV1, len(b))
		for i, d := range b {
			out[i] = cse.ToV1(d)
		}
		return out
	case cse.Page[cse.DefEntity]:
		out := cse.Page[cse.DefEntityV1]{ResultTotal: b.ResultTotal, PageCount: b.PageCount, Page: b.Page, PageSize: b.PageSize,
			NextPageURI: b.NextPageURI, PreviousPageURI: b.PreviousPageURI, Values: make([]cse.DefEntityV1, len(b.Values))}
		for i, d := range b.Values {
			out.Values[i] = cse.ToV1(d)
		}
		return out
	}
	return body
}
