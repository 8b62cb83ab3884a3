// Package kaasd wires kaas's components into one service: embedded or external JetStream,
// the projector, the executors, the CSE API behind the AMQP ingress, and the admin
// listener. By default one process plays every role; Roles splits them.
package kaasd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmware/go-vcloud-director/v2/govcd"
	"golang.org/x/sync/errgroup"

	"github.com/kaasproject/kaas/deploy/rde"
	"github.com/kaasproject/kaas/deploy/svc"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/events/store"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/history"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/mirror"
	"github.com/kaasproject/kaas/mirror/vcdclient"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// Version is kaas's version, set at build time.
var Version = "dev"

// Roles a kaasd can play.
const (
	RoleIngress   = "ingress"
	RoleExecutor  = "executor"
	RoleProjector = "projector"
	// RoleMirror keeps VCD showing what kaas knows (clusters as defined entities,
	// operations as tasks), when kaas runs on a VCD (VCDURL).
	RoleMirror = "mirror"
)

var allRoles = []string{RoleIngress, RoleExecutor, RoleProjector, RoleMirror}

// Config is kaasd's whole configuration. Every field has an environment variable of the
// matching name (KAAS_NATS_URL, …) and a flag (--nats-url, …); see deploy/cmd/kaasd.
type Config struct {
	NATSURL    string // empty: embedded JetStream in DataDir
	NATSListen string // embedded server's listen address for other processes; empty: in-process only
	// NATSRelaxedSync, above zero, lets the embedded JetStream acknowledge before it syncs
	// to disk, syncing this often instead (jsstore.EmbeddedConfig.RelaxedSync); zero syncs
	// every write first. A standalone server sets this in its own config (sync_interval).
	NATSRelaxedSync time.Duration
	// NATSCAFile, NATSCertFile and NATSKeyFile make kaasd speak TLS to a standalone server
	// (NATSURL): the CAs its certificate must chain to (empty: the system's), and a client
	// certificate for a server that verifies them (both or neither). nats.go reads them at
	// every connection, so renewed certificates take effect at the next reconnect.
	NATSCAFile, NATSCertFile, NATSKeyFile string
	// NATSCredsFile is a .creds file (user JWT and nkey seed) for a server in operator
	// mode; NATSUser and NATSPassword are a user of the server's authorization block
	// instead. Without either, kaasd connects as the URL says.
	NATSCredsFile          string
	NATSUser, NATSPassword string
	DataDir                string

	AMQPURL string
	// AMQPTLS is how the broker of an amqps:// AMQPURL is checked, and how kaasd proves who
	// it is to a broker that asks (see vcdext.TLS).
	AMQPTLS        vcdext.TLS
	AMQPExchange   string
	AMQPRoutingKey string
	AMQPQueue      string
	AMQPPrefetch   int

	AdminAddr string

	// VCDURL is VCD's API (https://host/api), reached with the VCD* credentials through
	// go-vcloud-director: a real VCD, or the simulator (deploy/vcdsim) in `make run` and
	// the tests. The executor and mirror roles need it; the ingress and the projector run
	// without it (the ingress then learns no right URNs from VCD).
	VCDURL      string
	VCDOrg      string
	VCDUser     string
	VCDPassword string
	VCDToken    string
	VCDInsecure bool
	VCDCatalog  string

	Roles           []string
	ExecutorWorkers int
	PollInterval    time.Duration
	AckWait         time.Duration
	RetryBase       time.Duration
	// BootTimeout is how long a node may take to finish its bootstrap (see
	// executors.Config); 0: 20 minutes.
	BootTimeout time.Duration
	// Build is where template builds run (KAAS_BUILD_*; see executors.Build): without a
	// VDC and network, builds are refused and imports, deprecations and deletes still work.
	Build          executors.Build
	SecretsKeyFile string
	Replicas       int
	LogLevel       string
	// ProviderOrg is the URN of VCD's System org, whose users are providers.
	ProviderOrg string
	// RightIDs maps right URNs to CSE's right names (see ingress.Config): the provider's
	// override of what kaasd learns from VCD.
	RightIDs map[string]string
	// RightsRefresh is how often an ingress reads the URNs of CSE's rights from VCD again
	// once it has them all (it retries within a minute while some are missing); 0 reads
	// them only until found. Without KAAS_VCD_URL nothing is read.
	RightsRefresh time.Duration
	// PublishRights says which tenant orgs `kaasd install` publishes CSE's rights bundle
	// to: "all", "none" or org names separated by commas (see rde.ParsePublish).
	PublishRights string
	// CloudSyncInterval is how often VCD's templates and org VDCs are read again.
	CloudSyncInterval time.Duration
	// CommandRetention and EventRetention bound how long history is kept; 0 keeps it
	// forever (the default: audit and replay need it).
	CommandRetention, EventRetention time.Duration
	// AuditRetention bounds the KAAS_AUDIT archive; 0 keeps it forever.
	AuditRetention time.Duration
	// MutableHistory lets the streams' messages be deleted (see jsstore.Config.Mutable).
	MutableHistory bool
	// MaxDeliveryErrors is how many failed deliveries in a row dead-letter a command
	// (see executors.Config).
	MaxDeliveryErrors int
	// SnapshotEvery is how many events a cluster gains between snapshots (see
	// executors.Config).
	SnapshotEvery int
	// NoViewSnapshots stops the projector writing snapshots of its views (KAAS_VIEW_SNAPSHOTS
	// bucket) and starting from them: every start then folds the views from sequence 1.
	// ViewSnapshotInterval is the most time between snapshots while records are folded,
	// ViewSnapshotRecords how many records folded make one due sooner (see
	// projector.SnapshotConfig; 0: the defaults).
	NoViewSnapshots      bool
	ViewSnapshotInterval time.Duration
	ViewSnapshotRecords  uint64
	// VCDPublicURL is VCD's address as tenants reach it (https://vcd.example.com): the VCD
	// task hrefs kaas answers with start with it. Default: VCDURL without /api.
	VCDPublicURL string
	// MirrorResync is how often the mirror reads every cluster's entity in VCD again and
	// puts back what changed behind kaas's back (see mirror.Config); 0: 10 minutes.
	MirrorResync time.Duration
	// MirrorWorkers is how many clusters and operations the mirror makes match at once.
	MirrorWorkers int
	// TaskWait bounds how long the answer to a change waits for its VCD task (see
	// ingress.Config); 0: 5s.
	TaskWait time.Duration
}

// Defaults returns the configuration of a one-machine kaasd.
func Defaults() Config {
	return Config{
		DataDir: "./data", AMQPURL: vcdext.DefaultURL, AMQPExchange: vcdext.DefaultExchange, AMQPRoutingKey: vcdext.DefaultRoutingKey,
		AMQPPrefetch: vcdext.DefaultPrefetch, AdminAddr: "127.0.0.1:9090",
		Roles: slices.Clone(allRoles), LogLevel: "info", Replicas: 1,
		ProviderOrg: ingress.SystemOrg, CloudSyncInterval: 10 * time.Minute, RightsRefresh: 10 * time.Minute,
		PublishRights: "none",
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NATSURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("KAAS_DATA_DIR is required for the embedded JetStream"))
	}
	if c.NATSURL != "" && c.NATSListen != "" {
		errs = append(errs, errors.New("KAAS_NATS_LISTEN only applies to the embedded server; unset it or KAAS_NATS_URL"))
	}
	if c.NATSURL != "" && c.NATSRelaxedSync != 0 {
		errs = append(errs, errors.New("KAAS_NATS_RELAXED_SYNC only applies to the embedded server; a standalone one syncs as its config's sync_interval says"))
	}
	if c.NATSURL == "" {
		for _, v := range []struct{ name, v string }{{"KAAS_NATS_CA_FILE", c.NATSCAFile}, {"KAAS_NATS_CERT_FILE", c.NATSCertFile},
			{"KAAS_NATS_KEY_FILE", c.NATSKeyFile}, {"KAAS_NATS_CREDS_FILE", c.NATSCredsFile}, {"KAAS_NATS_USER", c.NATSUser}} {
			if v.v != "" {
				errs = append(errs, fmt.Errorf("%s only applies to a standalone server (KAAS_NATS_URL); the embedded one takes no TLS and no users", v.name))
			}
		}
	}
	if (c.NATSCertFile == "") != (c.NATSKeyFile == "") {
		errs = append(errs, errors.New("KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE: set both or neither"))
	}
	if c.NATSCredsFile != "" && c.NATSUser != "" {
		errs = append(errs, errors.New("KAAS_NATS_CREDS_FILE and KAAS_NATS_USER both say who kaasd is: set one"))
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		errs = append(errs, errors.New("KAAS_NATS_USER and KAAS_NATS_PASSWORD: set both or neither"))
	}
	if c.NATSRelaxedSync < 0 {
		errs = append(errs, fmt.Errorf("KAAS_NATS_RELAXED_SYNC %s is negative", c.NATSRelaxedSync))
	}
	for _, r := range c.Roles {
		if !slices.Contains(allRoles, r) {
			errs = append(errs, fmt.Errorf("unknown role %q: use %s", r, strings.Join(allRoles, ", ")))
		}
	}
	if len(c.Roles) == 0 {
		errs = append(errs, fmt.Errorf("no roles: give at least one of %s", strings.Join(allRoles, ", ")))
	}
	if c.has(RoleIngress) && !c.has(RoleProjector) {
		errs = append(errs, errors.New("the ingress answers reads from the projector's views: run both roles in one process"))
	}
	if c.has(RoleMirror) && !c.has(RoleProjector) {
		errs = append(errs, errors.New("the mirror makes VCD show the projector's views: run both roles in one process"))
	}
	if c.VCDPublicURL != "" {
		if u, err := url.Parse(c.VCDPublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("KAAS_VCD_PUBLIC_URL %q must be like https://vcd.example.com", c.VCDPublicURL))
		}
	}
	if c.MirrorWorkers < 0 || c.MirrorWorkers > 64 {
		errs = append(errs, fmt.Errorf("KAAS_MIRROR_WORKERS must be 0..64, not %d", c.MirrorWorkers))
	}
	if c.VCDURL != "" {
		vc := c.VCDConfig(nil)
		if err := vc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("KAAS_VCD_*: %w", err))
		}
	} else if needs := c.vcdRoles(); len(needs) > 0 {
		errs = append(errs, fmt.Errorf("KAAS_VCD_URL is required by the roles %s: set it to VCD's API (https://vcd.example.com/api), "+
			"with the service account in KAAS_VCD_USER and KAAS_VCD_PASSWORD or KAAS_VCD_TOKEN, or to the simulator's (bin/vcdsim, "+
			"as make run does); or play only the roles that need no VCD (KAAS_ROLES=%s,%s)", strings.Join(needs, ","), RoleIngress, RoleProjector))
	}
	if _, err := rde.ParsePublish(c.PublishRights); err != nil {
		errs = append(errs, fmt.Errorf("KAAS_PUBLISH_RIGHTS: %w", err))
	}
	if c.RightsRefresh < 0 {
		errs = append(errs, fmt.Errorf("KAAS_RIGHTS_REFRESH must not be negative, not %s", c.RightsRefresh))
	}
	if c.AMQPPrefetch < 1 || c.AMQPPrefetch > 65535 {
		errs = append(errs, fmt.Errorf("KAAS_AMQP_PREFETCH must be 1..65535, not %d", c.AMQPPrefetch))
	} else if c.has(RoleIngress) || c.AMQPTLS != (vcdext.TLS{}) {
		// The URL, and the TLS files an amqps:// URL is checked with, now rather than when the
		// ingress first dials.
		amqpCfg := c.amqpConfig()
		if err := amqpCfg.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("KAAS_AMQP_*: %w", err))
		}
	}
	snaps := c.viewSnapshots(nil, nil)
	if err := snaps.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("KAAS_VIEW_SNAPSHOT_*: %w", err))
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			errs = append(errs, fmt.Errorf("KAAS_ADMIN_ADDR %q: %v", c.AdminAddr, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) has(role string) bool { return slices.Contains(c.Roles, role) }

// vcdRoles are the roles of this process that act on VCD, and so need KAAS_VCD_URL: the
// executors drive it, the mirror writes into it.
func (c *Config) vcdRoles() []string {
	var out []string
	for _, r := range []string{RoleExecutor, RoleMirror} {
		if c.has(r) {
			out = append(out, r)
		}
	}
	return out
}

// Server is a running kaasd.
type Server struct {
	cfg   Config
	log   *slog.Logger
	admin net.Listener
	store *jsstore.Store
	views *projector.Views
	api   *ingress.API
	links *mirror.Links
	mir   *mirror.Mirror
	group *errgroup.Group
	stop  func()
	done  chan struct{}
}

// Start brings kaasd up and returns once it serves: the projector has caught up with the
// history and the ingress consumes. It runs until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s = &Server{cfg: cfg, log: log}
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	// OVA files a provider imports or builds from are read from this directory only.
	if cfg.Build.OVADir == "" && cfg.DataDir != "" {
		cfg.Build.OVADir = filepath.Join(cfg.DataDir, "ova")
	}
	if cfg.Build.OVADir != "" && cfg.has(RoleExecutor) {
		if err := os.MkdirAll(cfg.Build.OVADir, 0o750); err != nil {
			return nil, fmt.Errorf("OVA dir: %w", err)
		}
	}

	// NATS: embedded unless told otherwise.
	var nc *nats.Conn
	opts := []nats.Option{nats.Name("kaasd"), nats.MaxReconnects(-1)}
	if cfg.NATSURL == "" {
		emb, err := jsstore.StartEmbedded(jsstore.EmbeddedConfig{StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Listen: cfg.NATSListen,
			RelaxedSync: cfg.NATSRelaxedSync})
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, emb.Shutdown)
		if nc, err = emb.Connect(opts...); err != nil {
			return nil, err
		}
		log.Info("embedded JetStream started", "store", filepath.Join(cfg.DataDir, "jetstream"), "listen", emb.ClientURL(),
			"sync_before_ack", emb.SyncAlways())
		if !emb.SyncAlways() {
			log.Warn("JetStream acknowledges before it syncs to disk (KAAS_NATS_RELAXED_SYNC): a power loss can lose requests already answered 202",
				"sync_every", cfg.NATSRelaxedSync)
		}
	} else {
		if nc, err = connectNATS(cfg, opts); err != nil {
			return nil, err
		}
	}
	cleanups = append(cleanups, nc.Close)

	key, oldKeys, err := secretsKeys(cfg)
	if err != nil {
		return nil, err
	}
	if s.store, err = openStore(ctx, nc, jsstore.Config{SecretsKey: key, OldSecretsKeys: oldKeys, Replicas: cfg.Replicas,
		CommandMaxAge: cfg.CommandRetention, EventMaxAge: cfg.EventRetention, Mutable: cfg.MutableHistory,
		AuditMaxAge: cfg.AuditRetention}, log); err != nil {
		return nil, err
	}

	reg := svc.NewRegistry(Version)
	registerStoreMetrics(reg, s.store)
	admin := svc.NewAdmin(reg)
	// The admin listener opens before every role has registered its check: until Start has
	// wired them all, /readyz must not say ready on the checks registered so far (an
	// ingress that does not consume yet would be reported ready).
	var started atomic.Bool
	admin.AddCheck("started", func() error {
		if !started.Load() {
			return errors.New("kaasd is still starting")
		}
		return nil
	})
	admin.AddCheck("nats", func() error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	// JetStream answers (a NATS connection alone does not say the streams are there, or
	// that a cluster has quorum for them).
	admin.AddCheck("jetstream", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _, err := s.store.LastSequences(ctx)
		return err
	})

	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	s.group, s.stop = g, cancel
	cleanups = append(cleanups, cancel)

	if cfg.AdminAddr != "" {
		if s.admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		g.Go(func() error { return svc.ServeListener(gctx, s.admin, admin.Handler(), log) })
	}

	var proj *projector.Projector
	if cfg.has(RoleProjector) {
		pcfg := projector.Config{Logger: log}
		var blobs store.Blobs
		if !cfg.NoViewSnapshots {
			if blobs, err = s.store.Blobs(ctx, store.BlobConfig{Bucket: ViewSnapshotsBucket,
				Description: "kaas projector: snapshots of the views, a cache of the events' fold"}); err != nil {
				return nil, err
			}
		}
		pcfg.Snapshots = cfg.viewSnapshots(blobs, projector.NewSnapshotMetrics(reg))
		proj = projector.New(s.store, pcfg)
		s.views = proj.Views()
		reg.MustRegister(projector.NewCollector(s.views, s.store))
		admin.AddCheck("projector", proj.Ready)
		g.Go(func() error { return proj.Run(gctx) })
		// Answers must not come from half-built views: wait for the catch-up.
		for proj.Ready() != nil {
			select {
			case <-gctx.Done():
				return nil, fmt.Errorf("projector did not catch up: %w", errors.Join(gctx.Err(), g.Wait()))
			case <-time.After(5 * time.Millisecond):
			}
		}
	}

	if cfg.has(RoleExecutor) {
		// The executors always drive a VCD through go-vcloud-director: a real one, or
		// vcdsim in `make run` and the tests (which fakes remain, and why: README,
		// Development).
		backend, err := vcd.New(ctx, cfg.VCDConfig(log))
		if err != nil {
			return nil, err
		}
		log.Info("VCD reached", "url", cfg.VCDURL, "org", cfg.VCDOrg, "user", cfg.VCDUser)
		ecfg := executors.Config{Workers: cfg.ExecutorWorkers, PollInterval: cfg.PollInterval, AckWait: cfg.AckWait, RetryBase: cfg.RetryBase, BootTimeout: cfg.BootTimeout, Build: cfg.Build, MaxDeliveryErrors: cfg.MaxDeliveryErrors, SnapshotEvery: cfg.SnapshotEvery, Logger: log,
			Metrics: executors.NewMetrics(reg)}
		if cfg.shared() {
			// Other instances' executors take the same commands: one cluster at a time.
			if ecfg.Leases, err = s.store.KeyValue(ctx, store.KVConfig{Bucket: LeasesBucket,
				Description: "kaas executors: which executor runs each cluster's steps now"}); err != nil {
				return nil, err
			}
			ecfg.Instance = instanceName()
		}
		ex, err := executors.New(ecfg, s.store, backend)
		if err != nil {
			return nil, err
		}
		admin.AddCheck("executor", ex.Ready)
		g.Go(func() error { return ex.Run(gctx) })
		// Read VCD's templates and org VDCs now, and every CloudSyncInterval: a provider's
		// new template shows without a reload.
		g.Go(func() error { return syncCloud(gctx, s.store, cfg.CloudSyncInterval, log) })
	}
	// On a VCD, the API version CSE's clients use with it decides the CSE API versions
	// offered and the entity type mirrored (cse-rde.md §1.1): 35.0 on a VCD 10.2.
	api := rde.API36
	if cfg.VCDURL != "" && (cfg.has(RoleIngress) || cfg.has(RoleMirror)) {
		if api, err = LearnAPIVersion(ctx, cfg.VCDConfig(log)); err != nil {
			log.Warn("could not read VCD's API versions; taking 36.0 (VCD 10.3 and later)", "err", err)
			api = rde.API36
		}
		log.Info("VCD's API version for CSE's clients", "api", api, "entityType", rde.TypeID(api))
	}
	// On a VCD, the mirror's links: the ingress and the queries show VCD's ids through them.
	if cfg.VCDURL != "" && (cfg.has(RoleIngress) || cfg.has(RoleMirror)) {
		if s.links, err = mirror.OpenLinks(runCtx, s.store, mirror.LinksConfig{PublicURL: cfg.publicURL(), Logger: log}); err != nil {
			return nil, err
		}
	}
	if cfg.has(RoleMirror) {
		if err := s.startMirror(ctx, gctx, g, mirror.NewMetrics(reg), api); err != nil {
			return nil, err
		}
	}
	if cfg.has(RoleIngress) {
		q := queries.New(s.views, s.store.Secrets())
		if s.links != nil {
			q.WithLinks(s.links)
		}
		var names ingress.NameClaims
		if cfg.shared() {
			kv, err := s.store.KeyValue(ctx, store.KVConfig{Bucket: NamesBucket,
				Description: "kaas ingress: which cluster each org VDC's cluster name is claimed by"})
			if err != nil {
				return nil, err
			}
			names = nameClaims{kv}
		}
		// CSE offers the API versions VCD has: 35.0 alone on a VCD 10.2.
		versions := []string{rde.API35, rde.API36}
		if api == rde.API35 {
			versions = versions[:1]
		}
		s.api, err = ingress.New(ingress.Config{Versions: versions, Logger: log, Metrics: ingress.NewMetrics(reg), ProviderOrg: cfg.ProviderOrg, RightIDs: cfg.RightIDs, Version: Version,
			TaskWait: cfg.TaskWait, Admin: apiAdmin{s: s, proj: proj, cfg: cfg}, DeadLetters: deadLetters{s.store},
			History: history.New(s.views, historySource{s.store}, q), Shared: sharedStreams(cfg, s.store), Names: names},
			s.store, q)
		if err != nil {
			return nil, err
		}
		if cfg.VCDURL != "" {
			// VCD names rights by URN in what it relays: learn them before consuming (for a
			// bounded time) and keep them fresh in the background.
			l := newRightsLearner(cfg.VCDConfig(log), s.api.SetRightIDs, reg, log)
			first := make(chan struct{})
			g.Go(func() error { return l.run(gctx, cfg.RightsRefresh, first) })
			select {
			case <-first:
			case <-time.After(rightsFirstWait):
				log.Warn("VCD has not answered for the URNs of CSE's rights yet; serving meanwhile")
			case <-gctx.Done():
			}
		}
		amqpCfg := cfg.amqpConfig()
		amqpCfg.Prefetch, amqpCfg.Logger, amqpCfg.Metrics = cfg.AMQPPrefetch, log, vcdext.NewMetrics(reg)
		consumer, err := vcdext.New(amqpCfg, s.api)
		if err != nil {
			return nil, err
		}
		admin.AddCheck("amqp", consumer.Ready)
		g.Go(func() error { return consumer.Run(gctx) })
		// Serving means consuming. A broker that is down is not fatal (the consumer keeps
		// reconnecting, and /readyz says so), but a broker that is up should be bound first.
		for wait := time.Now().Add(5 * time.Second); consumer.Ready() != nil && time.Now().Before(wait); {
			time.Sleep(5 * time.Millisecond)
		}
		if err := consumer.Ready(); err != nil {
			log.Warn("AMQP consumer not ready yet; it keeps trying", "err", err)
		}
	}
	go func() {
		<-runCtx.Done()
		admin.Stopping()
	}()
	s.done = make(chan struct{})
	go func() {
		_ = g.Wait()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		close(s.done)
	}()
	started.Store(true)
	log.Info("kaasd started", "version", Version, "roles", strings.Join(cfg.Roles, ","), "admin", s.AdminAddr())
	return s, nil
}

// startMirror starts the mirror of the views into VCD: its own session (the provider's
// service account), and the follower, which mirrors while this instance holds its lease.
func (s *Server) startMirror(ctx, gctx context.Context, g *errgroup.Group, metrics *mirror.Metrics, api string) error {
	cfg, log := s.cfg, s.log
	vc, err := vcdclient.New(ctx, vcdclient.Config{Logger: log, EntityType: rde.TypeID(api), Login: func(ctx context.Context) (*govcd.VCDClient, error) {
		return vcd.Login(ctx, cfg.VCDConfig(log))
	}})
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	instance, _ := os.Hostname()
	if dir, err := filepath.Abs(cfg.DataDir); err == nil {
		instance += ":" + dir // a restarted kaasd takes its lease back at once
	}
	s.mir, err = mirror.New(mirror.Config{APIVersion: api, Resync: cfg.MirrorResync, Workers: cfg.MirrorWorkers, Instance: instance, Logger: log,
		Metrics: metrics}, s.store, s.views, s.links, vc)
	if err != nil {
		return err
	}
	g.Go(func() error { return s.mir.Run(gctx) })
	return nil
}

// publicURL is VCD's address as tenants reach it.
func (c *Config) publicURL() string {
	if c.VCDPublicURL != "" {
		return c.VCDPublicURL
	}
	return strings.TrimSuffix(strings.TrimSuffix(c.VCDURL, "/"), "/api")
}

// Mirror returns the mirror of the views into VCD, when this kaasd runs it.
func (s *Server) Mirror() *mirror.Mirror { return s.mir }

// AdminAddr is where /metrics, /livez and /readyz are served.
func (s *Server) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr().String()
}

// API returns the CSE API handler, to serve it over plain HTTP too.
func (s *Server) API() *ingress.API { return s.api }

// Store returns the command and event store.
func (s *Server) Store() *jsstore.Store { return s.store }

// Views returns the live views, when this kaasd runs the projector.
func (s *Server) Views() *projector.Views { return s.views }

// Close stops kaasd and waits for it: in-flight requests are answered, in-flight steps
// recorded, unfinished commands left for the next start.
func (s *Server) Close() error {
	s.stop()
	err := s.group.Wait()
	<-s.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Done is closed once kaasd has stopped, for whatever reason.
func (s *Server) Done() <-chan struct{} { return s.done }

// secretsKeys reads the key file (KAAS_SECRETS_KEY_FILE, default <data dir>/secrets.key,
// made with one new key on first start). The file is either 32 raw bytes (what kaasd makes)
// or text: one base64 key per line, blank lines and # comments ignored. The first key seals
// and every key opens, so a rotation puts a new key on the first line of every instance's
// file and keeps the old one below until nothing sealed with it is left.
func secretsKeys(cfg Config) (seal []byte, old [][]byte, err error) {
	path := cfg.SecretsKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "secrets.key")
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) && cfg.SecretsKeyFile == "" {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, nil, fmt.Errorf("write secrets key %s: %w", path, err)
		}
		return b, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("secrets key %s: %w", path, err)
	}
	keys, err := parseKeys(b)
	if err != nil {
		return nil, nil, fmt.Errorf("secrets key file %s: %w", path, err)
	}
	return keys[0], keys[1:], nil
}

// parseKeys reads a key file's keys, the sealing one first.
func parseKeys(b []byte) ([][]byte, error) {
	if len(b) == 32 {
		return [][]byte{b}, nil // raw, as kaasd makes it (a base64 key alone is 44 characters)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("line %d is not a base64 32-byte key (make one with: head -c 32 /dev/urandom | base64)", i+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key: want 32 raw bytes, or one base64 key per line")
	}
	return keys, nil
}

// amqpConfig is where the ingress consumes, and how it reaches the broker.
func (c *Config) amqpConfig() vcdext.Config {
	return vcdext.Config{URL: c.AMQPURL, TLS: c.AMQPTLS, Exchange: c.AMQPExchange, RoutingKey: c.AMQPRoutingKey, Queue: c.AMQPQueue}
}

// VCDConfig is the govcd adapter's configuration.
func (c *Config) VCDConfig(log *slog.Logger) vcd.Config {
	return vcd.Config{URL: c.VCDURL, Org: c.VCDOrg, User: c.VCDUser, Password: c.VCDPassword, Token: c.VCDToken,
		Insecure: c.VCDInsecure, Catalog: c.VCDCatalog, Logger: log}
}

// syncCloud schedules the cloud's syncs: it appends executors.CloudSyncCommand at once and
// then every interval (0: only at start).
func syncCloud(ctx context.Context, store *jsstore.Store, every time.Duration, log *slog.Logger) error {
	for {
		env, msgID := executors.CloudSyncCommand(time.Now(), every, ingress.SystemOrg)
		if _, _, err := store.AppendCommand(ctx, env, msgID); err != nil && ctx.Err() == nil {
			log.Warn("could not ask for a sync of VCD's templates and VDCs", "err", err)
		}
		if every <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// Redacted is the configuration as a provider may read it (GET /api/cse/system/config):
// passwords, tokens and key locations are left out, URLs lose their credentials.
func (c Config) Redacted() map[string]any {
	clean := RedactURLs
	return map[string]any{
		"nats_url": clean(c.NATSURL), "nats_relaxed_sync": c.NATSRelaxedSync.String(), "data_dir": c.DataDir, "amqp_url": clean(c.AMQPURL), "amqp_exchange": c.AMQPExchange,
		"amqp_routing_key": c.AMQPRoutingKey, "amqp_queue": c.AMQPQueue, "amqp_prefetch": c.AMQPPrefetch,
		"vcd_url": c.VCDURL, "vcd_org": c.VCDOrg, "vcd_user": c.VCDUser, "vcd_insecure": c.VCDInsecure, "vcd_catalog": c.VCDCatalog,
		"vcd_password": c.VCDPassword != "", "vcd_token": c.VCDToken != "",
		"nats_tls": c.NATSCAFile != "" || c.NATSCertFile != "", "nats_client_cert": c.NATSCertFile != "", "nats_creds": c.NATSCredsFile != "", "nats_user": c.NATSUser,
		"amqp_ca": c.AMQPTLS.CAFile != "", "amqp_client_cert": c.AMQPTLS.CertFile != "", "amqp_server_name": c.AMQPTLS.ServerName,
		"roles": c.Roles, "executor_workers": c.ExecutorWorkers, "poll_interval": c.PollInterval.String(),
		"ack_wait": c.AckWait.String(), "retry_base": c.RetryBase.String(), "boot_timeout": c.BootTimeout.String(), "replicas": c.Replicas, "log_level": c.LogLevel,
		"command_retention": c.CommandRetention.String(), "event_retention": c.EventRetention.String(), "audit_retention": c.AuditRetention.String(), "mutable_history": c.MutableHistory,
		"provider_org": c.ProviderOrg, "cloud_sync_interval": c.CloudSyncInterval.String(), "version": Version,
		"vcd_public_url": c.VCDPublicURL, "mirror_resync": c.MirrorResync.String(), "mirror_workers": c.MirrorWorkers, "task_wait": c.TaskWait.String(),
		"rights_refresh": c.RightsRefresh.String(), "right_ids_override": len(c.RightIDs),
		"build_org": c.Build.Org, "build_vdc": c.Build.VDC, "build_network": c.Build.Network,
		"view_snapshots": !c.NoViewSnapshots, "view_snapshot_interval": c.ViewSnapshotInterval.String(), "view_snapshot_records": c.ViewSnapshotRecords,
		"build_storage_profile": c.Build.StorageProfile, "build_timeout": c.Build.Timeout.String(), "ova_dir": c.Build.OVADir,
	}
}
