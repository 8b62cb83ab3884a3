package vcdsim

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim/guest"
)

// MIME types the simulator answers with.
const (
	mimeError = "application/vnd.vmware.vcloud.error+xml;version=37.0"
	mimeVApp  = "application/vnd.vmware.vcloud.vApp+xml"
	mimeVM    = "application/vnd.vmware.vcloud.vm+xml"
	mimeTask  = "application/vnd.vmware.vcloud.task+xml"
	nsVCloud  = "http://www.vmware.com/vcloud/v1.5"
)

// systemOrgID is the id VCD gives its System org in every installation.
const systemOrgID = "a93c9db9-7471-3192-8d09-a8f7eeda85f9"

// Server is a running simulated VCD. Its handler serves every path; Base is the external
// URL every href starts with.
type Server struct {
	cfg Config
	// apiVersions are the API versions offered; behaviorsAPI says whether they reach 36.0,
	// which brought behaviors and hooks.
	apiVersions  []string
	behaviorsAPI bool
	base         string
	log          *slog.Logger

	mu       sync.Mutex
	faults   Faults
	orgs     []*org
	system   *org
	catalog  *catalog
	vdcs     map[string]*vdc
	networks map[string]*network
	vapps    map[string]*vapp
	vms      map[string]*vm
	tasks    map[string]*task
	sessions map[string]*session
	tokens   map[string]*session // API tokens → the user they log in
	services map[string]*service
	filters  map[string]*apiFilter
	calls    map[string]int // VCD API calls served, by operation

	ext *relay // VCD's side of the API-extension protocol

	rde *rdeState // the cloudapi's defined entities, types, interfaces and rights

	// VM sizing policies (the provider's and each VDC's System Default) and VDC storage
	// profiles, by uuid (sizing.go).
	policies map[string]*sizingPolicy
	profiles map[string]*storageProfile

	// repo is what template builds' guests can install (Config.Repository).
	repo guest.Repository
}

type org struct {
	id, name string
	users    []UserConfig
	vdcs     []*vdc
}

func (o *org) system() bool { return strings.EqualFold(o.name, "System") }

type vdc struct {
	id, name string
	org      *org
	networks []*network
	maxVMs   int
	vapps    []*vapp
	// profiles are the VDC's storage profiles, the default among them; policies the sizing
	// policies assigned to it, its own System Default (defaultPolicy) first.
	profiles      []*storageProfile
	policies      []*sizingPolicy
	defaultPolicy *sizingPolicy
}

type network struct {
	id, name, gateway, pool string
	vdc                     *vdc
	next                    int
}

type catalog struct {
	id, name  string
	templates []*template
}

type vapp struct {
	id, name, description string
	vdc                   *vdc
	readyAt               time.Time // composing until then (status UNRESOLVED)
	busyUntil             time.Time
	busyTask              *task
	networks              []types.VAppNetworkConfiguration
	metadata              map[string]string
	vms                   []*vm
	cluster               guest.Cluster // what the guests of its VMs share
	access                vappAccess    // whom it is shared with
	created               time.Time
}

type vm struct {
	id, name  string
	vapp      *vapp
	template  *template
	ip, mac   string
	network   string
	onAt      time.Time // powered on (deployed) since; zero while off
	busyUntil time.Time
	busyTask  *task
	extra     map[string]string // VMX extraConfig, guestinfo included
	metadata  map[string]string
	guest     guest.Guest // the operating system behind the VM
	disk      disk        // what its disk holds: its template's, and what a build installed
	// failAt, hangAt and bootDelay are a targeted boot fault's, set when the VM was powered
	// on.
	failAt, hangAt string
	bootDelay      time.Duration
	// The VM's hardware and where it runs (sizing.go): its sizing policy and storage
	// profile, CPUs, cores per socket and memory.
	sizing     *sizingPolicy
	storage    *storageProfile
	cpu, cores int
	memoryMB   int
}

type task struct {
	id, op, operation string
	ownerHREF         string
	ownerName         string
	ownerType         string
	start, end        time.Time
	fail              *types.Error
	// What VCD shows of every task and decides its readers by (tasks.go).
	ownerID            string // the Owner's URN, when it has one (an entity's id)
	org                *org   // the Organization: whose task list shows it
	userName, userHREF string // the User who started it
	userID             string // that user's URN
	namespace          string // serviceNamespace; "" is VCD's own
	details            string
	progress           int
	// state is set for a task made through a tasks list: its status is what its maker last
	// wrote, not a function of time.
	state string
}

type session struct {
	token  string
	user   UserConfig
	userID string
	org    *org
}

// New builds the simulated cloud. base is the external URL clients reach it at (for
// example an httptest server's URL); it may be set later with SetBase.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	versions, err := cfg.offeredVersions()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, apiVersions: versions, behaviorsAPI: behaviorsOffered(versions), log: log, faults: cfg.Faults.clone(), vdcs: map[string]*vdc{}, networks: map[string]*network{},
		vapps: map[string]*vapp{}, vms: map[string]*vm{}, tasks: map[string]*task{}, sessions: map[string]*session{},
		tokens: map[string]*session{}, services: map[string]*service{}, filters: map[string]*apiFilter{},
		calls: map[string]int{}, rde: newRDEState(), policies: map[string]*sizingPolicy{}, profiles: map[string]*storageProfile{}}
	for _, pc := range cfg.SizingPolicies {
		if err := s.addPolicy(pc, stableID("computepolicy", pc.Name), nil); err != nil {
			return nil, err
		}
	}
	// VCD gives its System org the same id in every installation.
	s.system = &org{id: systemOrgID, name: "System", users: cfg.Providers}
	s.orgs = append(s.orgs, s.system)
	for _, oc := range cfg.Orgs {
		if strings.EqualFold(oc.Name, "System") {
			return nil, fmt.Errorf("vcdsim: org %q is reserved for providers", oc.Name)
		}
		o := &org{id: stableID("org", oc.Name), name: oc.Name, users: oc.Users}
		if oc.ID != "" {
			id, err := uuid.Parse(strings.TrimPrefix(oc.ID, "urn:vcloud:org:"))
			if err != nil {
				return nil, fmt.Errorf("vcdsim: org %s: id %q is no UUID: %w", oc.Name, oc.ID, err)
			}
			o.id = id.String()
		}
		for _, dc := range oc.VDCs {
			d := &vdc{id: stableID("vdc", oc.Name+"/"+dc.Name), name: dc.Name, org: o, maxVMs: dc.MaxVMs}
			for _, nc := range dc.Networks {
				n := &network{id: stableID("network", oc.Name+"/"+dc.Name+"/"+nc.Name), name: nc.Name, gateway: nc.Gateway, pool: nc.Pool, vdc: d}
				if n.pool == "" {
					n.pool = "10.1"
				}
				d.networks = append(d.networks, n)
				s.networks[n.id] = n
			}
			if err := s.placeVDC(d, dc); err != nil {
				return nil, err
			}
			o.vdcs = append(o.vdcs, d)
			s.vdcs[d.id] = d
		}
		s.orgs = append(s.orgs, o)
	}
	name := cfg.Catalog.Name
	if name == "" {
		name = "kaas-templates"
	}
	s.catalog = &catalog{id: stableID("catalog", name), name: name}
	for _, tc := range cfg.Catalog.Templates {
		t := configuredTemplate(tc)
		t.created = time.Now()
		s.catalog.templates = append(s.catalog.templates, t)
	}
	r := cfg.Repository.resolved()
	s.repo = guest.Repository{Kubernetes: r.KubernetesVersions, Containerd: r.ContainerdVersions, Manifests: r.CNIManifests}
	for _, o := range s.orgs {
		for _, u := range o.users {
			if u.Token != "" {
				s.tokens[u.Token] = &session{user: u, userID: userURN(o, u.Name), org: o}
			}
		}
	}
	s.ext = newRelay(cfg.AMQPURL, log)
	return s, nil
}

// SetBase sets the external URL every href starts with, e.g. https://127.0.0.1:8443.
func (s *Server) SetBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = strings.TrimSuffix(base, "/")
}

// Close releases the AMQP connections of the extension role.
func (s *Server) Close() { s.ext.close() }

// stableID derives a UUID from a name, so that restarts of the simulator keep ids.
func stableID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("vcdsim/"+kind+"/"+name)).String()
}

func userURN(o *org, name string) string { return UserURN(o.name, name) }

// UserURN is the URN the simulator gives a user of an org: stable, so that tests and people
// can name users in ACLs without looking them up.
func UserURN(org, name string) string {
	return "urn:vcloud:user:" + stableID("user", org+"/"+name)
}

func (s *Server) href(path string) string { return s.base + "/api/" + path }

func orgURN(o *org) string { return "urn:vcloud:org:" + o.id }

// OrgURN is the URN the simulator gives a tenant org (the System org has VCD's fixed one),
// unless its OrgConfig names an ID.
func OrgURN(name string) string {
	if strings.EqualFold(name, "System") {
		return "urn:vcloud:org:" + systemOrgID
	}
	return "urn:vcloud:org:" + stableID("org", name)
}

// VDCURN is the URN the simulator gives an org VDC, stable as OrgURN's.
func VDCURN(org, vdc string) string { return "urn:vcloud:vdc:" + stableID("vdc", org+"/"+vdc) }

// OrgID returns the URN of an org, as VCD puts it in security contexts.
func (s *Server) OrgID(name string) string {
	for _, o := range s.orgs {
		if o.name == name {
			return orgURN(o)
		}
	}
	return ""
}

// taskDelay is how long the next task takes.
func (s *Server) taskDelay() time.Duration { return s.cfg.TaskDelay.D() }

func (s *Server) bootDelay() time.Duration {
	if s.faults.BootDelay > 0 {
		return s.faults.BootDelay.D()
	}
	return s.cfg.BootDelay.D()
}

// subject is what a task or a boot is about, to match targeted faults against.
type subject struct {
	class  string // compose, recompose, power, delete, reconfigure, metadata, boot
	vapp   *vapp
	vm     *vm      // nil for the vApp's own tasks
	caller *session // who asked: the task's User
}

// targeted returns the first targeted fault that hits the subject (op is a task's VCD
// operation name), and uses up one of its hits.
func (s *Server) targeted(sub subject, op string) (Targeted, bool) {
	for i, f := range s.faults.Targeted {
		switch {
		case f.Op != sub.class && (op == "" || f.Op != op):
		case f.VApp != "" && (sub.vapp == nil || !strings.EqualFold(f.VApp, sub.vapp.name)):
		case f.Role != "" && (sub.vm == nil || sub.vm.role() != f.Role):
		default:
			if f.Count > 0 {
				// A copy: whoever read the faults keeps what they read.
				left := slices.Clone(s.faults.Targeted)
				if left[i].Count--; left[i].Count == 0 {
					left = slices.Delete(left, i, i+1)
				}
				s.faults.Targeted = left
			}
			return f, true
		}
	}
	return Targeted{}, false
}

// newTask starts a task on an object. A task may be made to fail, or to take longer, by
// the fault settings; its failure is decided now and shown when it ends.
func (s *Server) newTask(sub subject, op, operation, ownerHREF, ownerName, ownerType string) *task {
	now := time.Now()
	delay := s.taskDelay()
	var fail *types.Error
	if s.faults.TaskFailureRate > 0 && rand.Float64() < s.faults.TaskFailureRate {
		fail = &types.Error{MajorErrorCode: 500, MinorErrorCode: "INTERNAL_SERVER_ERROR", Message: "simulated task failure: " + operation}
	}
	if f, ok := s.targeted(sub, op); ok {
		if f.Delay > 0 {
			delay = f.Delay.D()
		}
		if f.FailStatus != 0 {
			fail = &types.Error{MajorErrorCode: f.FailStatus, MinorErrorCode: minorCode(f.FailStatus), Message: "simulated task failure: " + operation}
		}
	}
	t := &task{id: uuid.NewString(), op: op, operation: operation, ownerHREF: ownerHREF, ownerName: ownerName, ownerType: ownerType,
		start: now, end: now.Add(delay), fail: fail}
	s.stamp(t, sub)
	s.tasks[t.id] = t
	return t
}

// minorCode is the minor error code VCD pairs with an HTTP status.
func minorCode(status int) string {
	switch {
	case status >= 500:
		return "INTERNAL_SERVER_ERROR"
	case status == http.StatusForbidden:
		return "ACCESS_TO_RESOURCE_IS_FORBIDDEN"
	case status == http.StatusNotFound:
		return "RESOURCE_NOT_FOUND"
	}
	return "BAD_REQUEST"
}

// boot applies a targeted boot fault to a VM being powered on.
func (s *Server) boot(m *vm) {
	m.failAt, m.hangAt, m.bootDelay = "", "", 0
	if f, ok := s.targeted(subject{class: "boot", vapp: m.vapp, vm: m}, ""); ok {
		m.failAt, m.hangAt, m.bootDelay = f.FailAt, f.HangAt, f.Delay.D()
	}
}

func (t *task) status(now time.Time) string {
	switch {
	case t.state != "":
		return t.state
	case now.Before(t.end):
		return "running"
	case t.fail != nil:
		return "error"
	}
	return "success"
}

func (s *Server) taskXML(t *task) *types.Task {
	now := time.Now()
	out := &types.Task{HREF: s.href("task/" + t.id), ID: "urn:vcloud:task:" + t.id, Type: mimeTask, Name: "task", Status: t.status(now),
		Operation: t.operation, OperationName: t.op, ServiceNamespace: "com.vmware.vcloud",
		StartTime: t.start.UTC().Format(time.RFC3339Nano),
		Owner:     &types.Reference{HREF: t.ownerHREF, ID: t.ownerID, Name: t.ownerName, Type: t.ownerType}}
	s.taskParties(out, t)
	if t.state != "" {
		s.writtenTask(out, t)
		return out
	}
	if !now.Before(t.end) {
		out.EndTime = t.end.UTC().Format(time.RFC3339Nano)
		out.Progress = 100
		if t.fail != nil {
			out.Error = t.fail
		}
	}
	return out
}

// running lists the task on an object while it runs, as VCD embeds them.
func (s *Server) running(t *task, until time.Time) *types.TasksInProgress {
	if t == nil || !time.Now().Before(until) {
		return nil
	}
	return &types.TasksInProgress{Task: []*types.Task{s.taskXML(t)}}
}

// vcdError is an error VCD sends as an Error document.
type vcdError struct {
	status int
	minor  string
	msg    string
}

func (e *vcdError) Error() string { return e.msg }

func errf(status int, minor, format string, args ...any) *vcdError {
	return &vcdError{status: status, minor: minor, msg: fmt.Sprintf(format, args...)}
}

func busyErr(what string) *vcdError {
	return errf(http.StatusBadRequest, "BUSY_ENTITY", "The entity %s is busy completing an operation.", what)
}

// forbidden is VCD's answer for an id it does not know (or the caller may not see).
func forbidden(kind, id string) *vcdError {
	return errf(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Either you need some or all of the following rights [Base] to perform operations [%s] for %s or the target entity is invalid.", kind, id)
}

func writeError(w http.ResponseWriter, e *vcdError) {
	w.Header().Set("Content-Type", mimeError)
	w.WriteHeader(e.status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error xmlns="%s" majorErrorCode="%d" minorErrorCode="%s" message="%s" stackTrace=""/>`,
		nsVCloud, e.status, e.minor, xmlEscape(e.msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeXML writes a govcd type as VCD would: the root element in VCD's namespace.
func writeXML(w http.ResponseWriter, status int, mime string, root string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		writeError(w, errf(500, "INTERNAL_SERVER_ERROR", "vcdsim: encode %s: %v", root, err))
		return
	}
	if root != "" {
		b = renameRoot(b, root)
	}
	w.Header().Set("Content-Type", mime+";version=37.0")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n"))
	_, _ = w.Write(b)
}

var rootRE = regexp.MustCompile(`^<([A-Za-z]+)`)

// renameRoot gives a marshalled govcd value VCD's root element name and namespace.
func renameRoot(b []byte, root string) []byte {
	m := rootRE.FindSubmatch(b)
	if m == nil {
		return b
	}
	old := string(m[1])
	out := strings.Replace(string(b), "<"+old, "<"+root+` xmlns="`+nsVCloud+`"`, 1)
	if i := strings.LastIndex(out, "</"+old+">"); i >= 0 {
		out = out[:i] + "</" + root + ">" + out[i+len("</"+old+">"):]
	}
	return []byte(out)
}

func readXML(r *http.Request, v any) *vcdError {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<22))
	if err != nil {
		return errf(400, "BAD_REQUEST", "read body: %v", err)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return errf(400, "BAD_REQUEST", "The request body is not valid XML for this operation: %v", err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 48)
	_, _ = crand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomMAC() string {
	b := make([]byte, 3)
	_, _ = crand.Read(b)
	return "00:50:56:" + hex.EncodeToString(b[:1]) + ":" + hex.EncodeToString(b[1:2]) + ":" + hex.EncodeToString(b[2:])
}

// fault injects the configured error or latency for an operation. It is called with mu
// held and sleeps without it.
func (s *Server) fault(op string) *vcdError {
	lat := s.faults.Latency[op]
	rate := s.faults.ErrorRate
	if r, ok := s.faults.Errors[op]; ok {
		rate = r
	}
	if op == "get" || op == "query" {
		if r, ok := s.faults.Errors[op]; ok {
			rate = r
		} else {
			rate = 0 // reads fail only when asked for explicitly
		}
	}
	if lat > 0 {
		s.mu.Unlock()
		time.Sleep(lat.D())
		s.mu.Lock()
	}
	if rate > 0 && rand.Float64() < rate {
		if rand.IntN(4) == 0 {
			return errf(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "simulated outage during %s", op)
		}
		return busyErr("(" + op + ")")
	}
	return nil
}

// status of a VM: 4 powered on, 8 powered off.
func (m *vm) status(now time.Time) int {
	if !m.onAt.IsZero() && !now.Before(m.onAt) {
		return 4
	}
	return 8
}

// role is a VM's kaas.node.role metadata, else what its name's prefix (mstr, nfsd, node)
// says.
func (m *vm) role() string {
	if r := m.metadata[guest.MetadataRole]; r != "" {
		return r
	}
	switch {
	case strings.HasPrefix(m.name, "mstr"):
		return guest.RoleControlPlane
	case strings.HasPrefix(m.name, "nfsd"):
		return guest.RoleNFS
	}
	return guest.RoleWorker
}

// guestVM is what the guest behind a VM sees of it.
func (m *vm) guestVM() guest.VM {
	return guest.VM{Role: m.role(), IP: m.ip, On: m.onAt, Info: m.extra, CPU: m.cpu, MemoryMB: m.memoryMB,
		Kubernetes: m.disk.installed.Kubernetes, Bare: !m.disk.configured && m.disk.installed.Kubernetes == "",
		Silent: !m.disk.cloudInit}
}

// play lets the guest behind a VM run up to now.
func (s *Server) play(m *vm) {
	b := guest.Behaviour{BootDelay: s.bootDelay(), FailAt: m.disk.failAt, HangAt: m.hangAt, Repository: s.repo}
	if m.failAt != "" {
		b.FailAt = m.failAt
	}
	if m.bootDelay > 0 {
		b.BootDelay = m.bootDelay
	}
	if s.faults.NeverBoot {
		b.FailAt = guest.Never
	}
	if err := m.guest.Play(m.guestVM(), &m.vapp.cluster, b, time.Now()); err != nil {
		s.log.Info("guest failed", "vapp", m.vapp.name, "vm", m.name, "err", err)
	}
	// What a template build installed is on the VM's disk, for a capture to take.
	if inst, ok := m.guest.Installed(); ok {
		m.disk.installed = inst
	}
}

// vappStatus follows VCD: 0 while composing, 1 when empty, 4 all on, 8 all off, 10 mixed.
func (a *vapp) status(now time.Time) int {
	if now.Before(a.readyAt) {
		return 0
	}
	if len(a.vms) == 0 {
		return 1
	}
	on := 0
	for _, m := range a.vms {
		if m.status(now) == 4 {
			on++
		}
	}
	switch on {
	case 0:
		return 8
	case len(a.vms):
		return 4
	}
	return 10
}

func (a *vapp) deployed(now time.Time) bool {
	return slices.ContainsFunc(a.vms, func(m *vm) bool { return !m.onAt.IsZero() })
}
