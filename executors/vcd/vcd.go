package vcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// Config says how to reach VCD.
type Config struct {
	// URL is VCD's API endpoint, e.g. https://vcd.example.com/api.
	URL string
	// Org is the organization the service account logs in to: System for a provider
	// account, which can act in every tenant org (kaas provisions on tenants' behalf).
	Org string
	// User and Password, or Token (an API token), authenticate the service account.
	User, Password, Token string
	// Insecure skips TLS verification (the simulator's self-signed certificate).
	Insecure bool
	// Catalog is the catalog, visible to tenant orgs, that holds the Kubernetes templates.
	Catalog string
	// Timeout bounds each HTTP call.
	Timeout time.Duration
	Logger  *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Org == "" {
		c.Org = "System"
	}
	if c.Catalog == "" {
		c.Catalog = "kaas-templates"
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("VCD URL %q must be like https://vcd.example.com/api", c.URL))
	} else if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api") {
		errs = append(errs, fmt.Errorf("VCD URL %q must end in /api", c.URL))
	}
	if c.Token == "" && (c.User == "" || c.Password == "") {
		errs = append(errs, errors.New("VCD credentials: give a user and password, or an API token"))
	}
	return errors.Join(errs...)
}

// Metadata keys of a template's catalog item, from which kaas learns what it offers.
const (
	MetaTemplateKubernetes = "kaas.template.kubernetes_version"
	MetaTemplateOS         = "kaas.template.os"
	MetaTemplateCNI        = "kaas.template.cni"
	MetaTemplateCNIVersion = "kaas.template.cni_version"
	MetaTemplateRevision   = "kaas.template.revision"
	MetaTemplateDeprecated = "kaas.template.deprecated"
	// MetaTemplateName names the template when the item's name does not (<name>_rev<N>).
	MetaTemplateName         = "kaas.template.name"
	MetaTemplateContainerd   = "kaas.template.containerd_version"
	MetaTemplateCPU          = "kaas.template.cpu"
	MetaTemplateMemoryMB     = "kaas.template.memory_mb"
	MetaTemplateSizingPolicy = "kaas.template.sizing_policy"
	// MetaTemplateSource is events.SourceBuilt or events.SourceImported.
	MetaTemplateSource = "kaas.template.source"
)

// Client implements executors.VCD on govcd. It is safe for concurrent use.
type Client struct {
	cfg Config

	mu    sync.Mutex
	vc    *govcd.VCDClient
	tasks map[string]taskRef // the task each object's last change runs in, by object and change
	// shortest is the shortest time VCD took for a task of each operation (vappDeploy, …):
	// a task started less than that ago is still running, and is not asked about.
	shortest map[string]time.Duration
	// vms is each cluster node's VM href, once found (by cluster id and VM name): reads
	// of a VM go straight to it instead of through its vApp.
	vms map[string]string
	// sources are the template items VMs were made from lately (source).
	sources map[string]cachedItem
	// orgs and vdcs cache lookups that rarely change: every step would otherwise list the
	// orgs and query the VDC again. A cached VDC is only an href; each use reads it afresh.
	orgs map[string]cachedOrg
	vdcs map[string]string
	// vapps is each cluster's vApp href, once found: polls read the vApp in one GET
	// instead of reading the VDC to find it by name.
	vapps map[string]string
	// uploads are the OVA files this process is sending, by item (templates.go).
	uploads map[string]*upload
}

type cachedOrg struct {
	org *govcd.Org
	at  time.Time
}

// cacheFor bounds how stale a cached org may be.
const cacheFor = 5 * time.Minute

var _ executors.VCD = (*Client)(nil)

// New logs in and returns the client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, tasks: map[string]taskRef{}, shortest: map[string]time.Duration{}, vms: map[string]string{},
		sources: map[string]cachedItem{},
		orgs:    map[string]cachedOrg{}, vdcs: map[string]string{},
		vapps: map[string]string{}, uploads: map[string]*upload{}}
	if _, err := c.client(ctx, true); err != nil {
		return nil, err
	}
	return c, nil
}

// client returns the logged-in govcd client, logging in again when fresh is set (after a
// 401: sessions expire).
func (c *Client) client(ctx context.Context, fresh bool) (*govcd.VCDClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vc != nil && !fresh {
		return c.vc, nil
	}
	vc, err := Login(ctx, c.cfg)
	if err != nil {
		return nil, classify(err)
	}
	c.vc = vc
	return vc, nil
}

// Login returns a govcd client logged in with the configuration's credentials.
func Login(ctx context.Context, cfg Config) (*govcd.VCDClient, error) {
	cfg.setDefaults()
	vc, err := Anonymous(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Token != "" {
		_, err = vc.SetApiToken(cfg.Org, cfg.Token)
	} else {
		err = vc.Authenticate(cfg.User, cfg.Password, cfg.Org)
	}
	if err != nil {
		return nil, fmt.Errorf("log in to VCD at %s as %s@%s: %w", cfg.URL, cfg.User, cfg.Org, err)
	}
	return vc, nil
}

// Anonymous is a client of VCD that has not logged in: for what VCD serves to anyone, such
// as /api/versions.
func Anonymous(cfg Config) (*govcd.VCDClient, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	vc := govcd.NewVCDClient(*u, cfg.Insecure, govcd.WithHttpTimeout(int64(cfg.Timeout.Seconds())))
	// The executor's workers call VCD at once: keep a connection for each idle between
	// calls, rather than http's two, so that calls do not pay a TLS handshake each.
	if t, ok := vc.Client.Http.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = idleConns
	}
	return vc, nil
}

// idleConns is how many idle connections to VCD a client keeps: as many as calls it makes
// at once (executors.Config's default workers, the mirror's), with room to spare.
const idleConns = 32

// call runs f with the client, logging in again once when VCD says the session is gone.
func call[T any](ctx context.Context, c *Client, f func(vc *govcd.VCDClient) (T, error)) (T, error) {
	vc, err := c.client(ctx, false)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(vc)
	if err != nil && status(err) == http.StatusUnauthorized {
		if vc, err = c.client(ctx, true); err != nil {
			return v, err
		}
		v, err = f(vc)
	}
	return v, err
}

var apiErrorRE = regexp.MustCompile(`API Error: (\d{3}): (.*)`)

// status returns the HTTP status in a govcd error, or 0.
func status(err error) int {
	if m := apiErrorRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// classify turns a govcd error into an executors.Error: retryable or terminal.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ee *executors.Error
	if errors.As(err, &ee) {
		return err
	}
	msg := err.Error()
	m := apiErrorRE.FindStringSubmatch(msg)
	if m == nil {
		// No answer from VCD: a dropped connection, a timeout, DNS. Worth another try.
		return executors.Retryable("", "", err)
	}
	code, vcdMsg := m[1], m[2]
	n, _ := strconv.Atoi(code)
	lower := strings.ToLower(vcdMsg)
	switch {
	case n >= 500 || n == http.StatusUnauthorized || n == http.StatusRequestTimeout || n == http.StatusConflict ||
		strings.Contains(lower, "busy"):
		vcdCode := code
		if strings.Contains(lower, "busy") {
			vcdCode = "BUSY_ENTITY"
		}
		return executors.Retryable(vcdCode, vcdMsg, err)
	case strings.Contains(lower, "quota") || strings.Contains(lower, "limit exceeded") || strings.Contains(lower, "exceed"):
		return executors.Terminal(events.CodeQuotaExceeded, "VCD refused: resource limit", code, vcdMsg)
	}
	return executors.Terminal(events.CodeVCDError, "VCD refused the request", code, vcdMsg)
}

func notFound(err error) bool {
	return err != nil && (govcd.ContainsNotFound(err) || status(err) == http.StatusForbidden || status(err) == http.StatusNotFound)
}

// missing wraps the terminal error of an org or VDC lookup that found nothing: absent when
// VCD said there is none, but not when it refused to say (403: the service account's
// rights), which proves nothing, so that a delete then fails saying why.
func missing(err error, e *executors.Error) error {
	if govcd.ContainsNotFound(err) || status(err) == http.StatusNotFound {
		return absent{e}
	}
	return e
}

// absent is a terminal lookup failure that proves nothing of the cluster is where it was
// looked for: its org or VDC does not exist, the org is not the cluster's, or the vApp of
// the cluster's name is someone else's. A create fails with it; a delete is done by it,
// because kaas makes nothing outside the cluster's org and VDC (EnsureVApp checks both
// before it composes) and must never remove another's vApp.
type absent struct{ err *executors.Error }

func (a absent) Error() string { return a.err.Error() }
func (a absent) Unwrap() error { return a.err }

func isAbsent(err error) bool {
	var a absent
	return errors.As(err, &a)
}

func notRequesters(name string) error {
	return absent{executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("organization %q is not the requester's organization", name),
		"ACCESS_TO_RESOURCE_IS_FORBIDDEN", "")}
}

// org finds the tenant org and checks that it is the requester's: the name comes from the
// tenant's request, the URN from VCD's security context. No name is the service account's
// own org (template builds' default: executors.Build.Org).
func (c *Client) org(ctx context.Context, name, id string) (*govcd.Org, error) {
	if name == "" {
		name = c.cfg.Org
	}
	c.mu.Lock()
	cached, ok := c.orgs[name]
	c.mu.Unlock()
	if ok && time.Since(cached.at) < cacheFor {
		if id != "" && cached.org.Org.ID != id {
			return nil, notRequesters(name)
		}
		return cached.org, nil
	}
	org, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.Org, error) { return vc.GetOrgByName(name) })
	if notFound(err) {
		return nil, missing(err, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("organization %q does not exist", name), "", ""))
	}
	if err != nil {
		return nil, classify(err)
	}
	c.mu.Lock()
	c.orgs[name] = cachedOrg{org: org, at: time.Now()}
	c.mu.Unlock()
	if id != "" && org.Org.ID != id {
		return nil, notRequesters(name)
	}
	return org, nil
}

func (c *Client) vdc(ctx context.Context, ref executors.VAppRef) (*govcd.Vdc, error) {
	org, err := c.org(ctx, ref.Org, ref.OrgID)
	if err != nil {
		return nil, err
	}
	key := ref.Org + "/" + ref.VDC
	c.mu.Lock()
	href := c.vdcs[key]
	c.mu.Unlock()
	if href != "" {
		vdc, err := org.GetVDCByHref(href)
		if err == nil {
			return vdc, nil
		}
		if !notFound(err) {
			return nil, classify(err)
		}
	}
	vdc, err := org.GetVDCByName(ref.VDC, false)
	if notFound(err) {
		return nil, missing(err, executors.Terminal(events.CodeVDCNotFound, fmt.Sprintf("org VDC %q does not exist in org %q", ref.VDC, ref.Org), "", ""))
	}
	if err != nil {
		return nil, classify(err)
	}
	c.mu.Lock()
	c.vdcs[key] = vdc.Vdc.HREF
	c.mu.Unlock()
	return vdc, nil
}

// ResolveTemplate implements executors.VCD: the template revision's catalog item
// (findTemplate), with the facts in its metadata.
func (c *Client) ResolveTemplate(ctx context.Context, o executors.Org, ref events.TemplateRef) (events.Template, error) {
	it, err := c.catalogItem(ctx, o, ref)
	if err != nil {
		return events.Template{}, err
	}
	if it.meta[MetaTemplateKubernetes] == "" {
		return events.Template{}, executors.Terminal(events.CodeTemplateNotFound,
			fmt.Sprintf("catalog item %q has no %s metadata: it is not a kaas template", it.item.CatalogItem.Name, MetaTemplateKubernetes), "", "")
	}
	return templateOf(ref.Name, ref.Revision, c.cfg.Catalog, it.item.CatalogItem, it.meta), nil
}

func (c *Client) catalogItem(ctx context.Context, o executors.Org, ref events.TemplateRef) (*item, error) {
	cat, err := c.catalog(ctx, o.Name, o.ID)
	if err != nil {
		return nil, err
	}
	it, why, err := findTemplate(cat, ref)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, executors.Terminal(events.CodeTemplateNotFound, why, "", "")
	}
	return it, nil
}

func metadataMap(md *types.Metadata) map[string]string {
	out := map[string]string{}
	if md == nil {
		return out
	}
	for _, e := range md.MetadataEntry {
		if e != nil && e.TypedValue != nil {
			out[e.Key] = e.TypedValue.Value
		}
	}
	return out
}

// description marks a vApp as a kaas cluster's at the moment it is created, before any
// metadata can be written, so that a retried create recognizes its own vApp.
func description(clusterID string) string { return "kaas cluster " + clusterID }

// findVApp returns the cluster's vApp, nil when there is none, or a terminal error (absent)
// when a vApp of that name belongs to someone else.
func (c *Client) findVApp(ctx context.Context, vdc *govcd.Vdc, ref executors.VAppRef) (*govcd.VApp, error) {
	vapp, err := vdc.GetVAppByName(ref.Name, false) // vdc was just read
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	if vapp.VApp.Description != description(ref.ClusterID) {
		md, err := vapp.GetMetadata()
		if err != nil {
			return nil, classify(err)
		}
		if metadataMap(md)[executors.MetaClusterID] != ref.ClusterID {
			return nil, absent{executors.Terminal(events.CodeNameConflict,
				fmt.Sprintf("a vApp named %q already exists in VDC %q and is not this cluster's", ref.Name, ref.VDC), "DUPLICATE_NAME", "")}
		}
	}
	c.mu.Lock()
	if len(c.vapps) > 100_000 {
		clear(c.vapps) // hints, like tasks
	}
	c.vapps[ref.ClusterID] = vapp.VApp.HREF
	c.mu.Unlock()
	return vapp, nil
}

// knownVApp reads the cluster's vApp by the href an earlier lookup found. It returns nil
// when there is none or the vApp there is no longer this cluster's.
func (c *Client) knownVApp(ctx context.Context, ref executors.VAppRef) (*govcd.VApp, error) {
	c.mu.Lock()
	href := c.vapps[ref.ClusterID]
	c.mu.Unlock()
	if href == "" {
		return nil, nil
	}
	org, err := c.org(ctx, ref.Org, ref.OrgID)
	if err != nil {
		return nil, err
	}
	vapp, err := org.GetVAppByHref(href)
	switch {
	case notFound(err):
	case err != nil:
		return nil, classify(err)
	case vapp.VApp.Description == description(ref.ClusterID):
		return vapp, nil
	}
	c.forgetVApp(ref.ClusterID)
	return nil, nil
}

func (c *Client) forgetVApp(clusterID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.vapps, clusterID)
}

// pending checks the task kaas last started on an object for a change. It returns true
// while the task runs, the task's failure once it failed, and false once it is over (or
// there is none).
func (c *Client) pending(ctx context.Context, key string) (bool, error) {
	c.mu.Lock()
	ref, ok := c.tasks[key]
	least := c.shortest[ref.op]
	c.mu.Unlock()
	if !ok {
		return false, nil
	}
	if least > 0 && time.Since(ref.started) < least {
		// No task of this operation ever ended this soon: it still runs.
		return true, nil
	}
	task, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.Task, error) { return vc.Client.GetTaskByHREF(ref.href) })
	if notFound(err) {
		c.forget(key)
		return false, nil
	}
	if err != nil {
		return true, classify(err)
	}
	switch task.Task.Status {
	case "queued", "preRunning", "running":
		return true, nil
	case "error":
		c.forget(key)
		msg := "task failed"
		code := ""
		if task.Task.Error != nil {
			msg, code = task.Task.Error.Message, task.Task.Error.MinorErrorCode
		}
		return false, classify(fmt.Errorf("%s: API Error: %d: %s (%s)", task.Task.Operation, taskMajor(task), msg, code))
	}
	c.learn(task)
	c.forget(key)
	return false, nil
}

// taskRef is a task kaas started: where to read it, its operation, and when kaas started
// it (by kaas's clock, which VCD's start and end times are not compared with).
type taskRef struct {
	href, op string
	started  time.Time
}

// learn notes how long a task that succeeded took, by VCD's own start and end times.
func (c *Client) learn(t *govcd.Task) {
	start, err1 := time.Parse(time.RFC3339Nano, t.Task.StartTime)
	end, err2 := time.Parse(time.RFC3339Nano, t.Task.EndTime)
	took := end.Sub(start)
	if err1 != nil || err2 != nil || took <= 0 || t.Task.OperationName == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.shortest[t.Task.OperationName]; !ok || took < have {
		if len(c.shortest) > 1000 {
			clear(c.shortest) // operations are a short list; this only bounds a surprise
		}
		c.shortest[t.Task.OperationName] = took
	}
}

func taskMajor(t *govcd.Task) int {
	if t.Task.Error != nil && t.Task.Error.MajorErrorCode != 0 {
		return t.Task.Error.MajorErrorCode
	}
	return 500
}

func (c *Client) remember(key string, t govcd.Task) {
	if t.Task == nil || t.Task.HREF == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tasks) > 100_000 {
		clear(c.tasks) // a cache of hints; the objects themselves are the truth
	}
	c.tasks[key] = taskRef{href: t.Task.HREF, op: t.Task.OperationName, started: time.Now()}
}

func (c *Client) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tasks, key)
}

// busy reports whether VCD lists a running task on the object.
func busy(tasks *types.TasksInProgress) bool {
	if tasks == nil {
		return false
	}
	for _, t := range tasks.Task {
		if t != nil && (t.Status == "queued" || t.Status == "preRunning" || t.Status == "running") {
			return true
		}
	}
	return false
}

// Cloud implements executors.VCD: every org VDC (an adminOrgVdc query, paged) with its
// networks, storage profiles and sizing policies, the kaas templates of the provider's
// catalog (its items whose metadata names a Kubernetes version), and every org's users.
func (c *Client) Cloud(ctx context.Context) (events.CloudSynced, error) {
	out := events.CloudSynced{Templates: []events.Template{}, VDCs: []events.VDC{}, Networks: []events.VDCNetworks{},
		StorageProfiles: []events.VDCStorageProfiles{}, SizingPolicies: []events.VDCSizingPolicies{}}
	const pageSize = 128
	for page := 1; ; page++ {
		res, err := call(ctx, c, func(vc *govcd.VCDClient) (govcd.Results, error) {
			return vc.Client.QueryWithNotEncodedParams(nil, map[string]string{"type": "adminOrgVdc",
				"page": strconv.Itoa(page), "pageSize": strconv.Itoa(pageSize)})
		})
		if err != nil {
			return out, classify(err)
		}
		var recs []*types.QueryResultOrgVdcRecordType
		if res.Results != nil {
			recs = res.Results.OrgVdcAdminRecord
		}
		for _, r := range recs {
			id := "urn:vcloud:vdc:" + lastSegment(r.HREF)
			out.VDCs = append(out.VDCs, events.VDC{ID: id, Name: r.Name, OrgName: r.OrgName,
				OrgID: "urn:vcloud:org:" + lastSegment(r.Org)})
			nets, doc, found, err := c.networks(ctx, r.HREF)
			if err != nil {
				return out, err
			}
			if found {
				out.Networks = append(out.Networks, events.VDCNetworks{VDC: id, Networks: nets})
				if err := c.offers(ctx, id, doc, &out); err != nil {
					return out, err
				}
			}
		}
		if len(recs) < pageSize {
			break
		}
	}

	org, err := c.org(ctx, c.cfg.Org, "")
	if err != nil {
		return out, err
	}
	cat, err := org.GetCatalogByName(c.cfg.Catalog, false)
	if notFound(err) {
		return out, executors.Terminal(events.CodeTemplateNotFound, fmt.Sprintf("the provider's catalog %q does not exist", c.cfg.Catalog), "", "")
	}
	if err != nil {
		return out, classify(err)
	}
	for _, items := range cat.Catalog.CatalogItems {
		for _, ref := range items.CatalogItem {
			item, err := cat.GetCatalogItemByHref(ref.HREF)
			if err != nil {
				return out, classify(err)
			}
			md, err := item.GetMetadata()
			if err != nil {
				return out, classify(err)
			}
			meta := metadataMap(md)
			rev, err := strconv.Atoi(meta[MetaTemplateRevision])
			if meta[MetaTemplateKubernetes] == "" || err != nil {
				continue // not a kaas template: a base image, or anything else in the catalog
			}
			out.Templates = append(out.Templates, templateOf(item.CatalogItem.Name, rev, c.cfg.Catalog, item.CatalogItem, meta))
		}
	}
	// Users only name things: a sync that cannot read them still records the rest, and
	// the names kaas learnt before stay.
	users, err := c.users(ctx)
	if err != nil {
		c.cfg.Logger.Warn("VCD's users could not be read; names stay as last read", "err", err)
	} else {
		out.Users = users
	}
	return out, nil
}

// networks reads an org VDC's networks: the VDC lists them (AvailableNetworks), and each
// network's IP scopes give its subnets. It returns the VDC's document too; found is false
// when the VDC went away meanwhile.
func (c *Client) networks(ctx context.Context, vdcHREF string) (nets []events.Network, doc *types.Vdc, found bool, err error) {
	vdc, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.Vdc, error) {
		v := govcd.NewVdc(&vc.Client)
		v.Vdc.HREF = vdcHREF
		return v, v.Refresh()
	})
	if notFound(err) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, classify(err)
	}
	nets = []events.Network{}
	for _, an := range vdc.Vdc.AvailableNetworks {
		for _, ref := range an.Network {
			if ref == nil {
				continue
			}
			n, err := call(ctx, c, func(vc *govcd.VCDClient) (*govcd.OrgVDCNetwork, error) {
				return govcd.NewVdc(&vc.Client).GetOrgVdcNetworkByHref(ref.HREF)
			})
			if notFound(err) {
				continue // removed since the VDC was read
			}
			if err != nil {
				return nil, nil, false, classify(err)
			}
			nets = append(nets, events.Network{Name: n.OrgVDCNetwork.Name, CIDRs: subnets(n.OrgVDCNetwork.Configuration)})
		}
	}
	return nets, vdc.Vdc, true, nil
}

// subnets returns the subnets of a network's IP scopes: each gateway masked by the scope's
// prefix length or, when VCD gives none, its netmask. A scope kaas cannot read is left out.
func subnets(cfg *types.NetworkConfiguration) []string {
	if cfg == nil || cfg.IPScopes == nil {
		return nil
	}
	var out []string
	for _, sc := range cfg.IPScopes.IPScope {
		if sc == nil {
			continue
		}
		gw, err := netip.ParseAddr(strings.TrimSpace(sc.Gateway))
		if err != nil {
			continue
		}
		length := -1
		switch {
		case sc.SubnetPrefixLength != "":
			if n, err := strconv.Atoi(strings.TrimSpace(sc.SubnetPrefixLength)); err == nil {
				length = n
			}
		case sc.SubnetPrefixLengthInt != nil:
			length = *sc.SubnetPrefixLengthInt
		case sc.Netmask != "":
			length = maskBits(sc.Netmask)
		}
		if p, err := gw.Prefix(length); err == nil {
			out = append(out, p.String())
		}
	}
	return out
}

// maskBits returns the prefix length of a netmask such as 255.255.0.0, or -1 when it is not
// one.
func maskBits(mask string) int {
	m, err := netip.ParseAddr(strings.TrimSpace(mask))
	if err != nil || !m.Is4() {
		return -1
	}
	a := m.As4()
	v := binary.BigEndian.Uint32(a[:])
	ones := bits.LeadingZeros32(^v)
	if v<<ones != 0 { // the ones are not contiguous
		return -1
	}
	return ones
}

func lastSegment(href string) string {
	href = strings.TrimRight(href, "/")
	return href[strings.LastIndex(href, "/")+1:]
}
