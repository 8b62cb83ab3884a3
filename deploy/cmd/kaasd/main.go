// Command kaasd is the kaas service: it takes VCD's API-extension calls over AMQP, keeps
// commands and events in JetStream, provisions clusters on VCD, and answers queries.
//
//	kaasd [flags]        run (every flag also reads its KAAS_* environment variable)
//	kaasd install        declare the AMQP queue kaasd reads, register kaas with VCD as its
//	                     API extension and register CSE's entity types and rights
//	                     (idempotent; --publish-rights says which tenant orgs get them)
//	kaasd call PATH      send one API call over AMQP as VCD would, and print the reply
//	kaasd version        print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/svc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, "kaasd", kaasd.Version)
			return 0
		case "call":
			return callCmd(ctx, args[1:], getenv, stdout, stderr)
		case "install":
			return installCmd(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	cfg, level, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kaasd:", err)
		return 2
	}
	log, err := svc.NewLogger(stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd:", err)
		return 2
	}
	if getenv("GOGC") == "" {
		// kaasd keeps its views in memory and allocates per request: collecting at twice
		// the live heap rather than at once over it spends less CPU on GC (GOGC overrides).
		debug.SetGCPercent(200)
	}
	srv, err := kaasd.Start(ctx, cfg, log)
	if err != nil {
		log.Error("kaasd could not start", "err", err)
		return 1
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-srv.Done():
	}
	if err := srv.Close(); err != nil {
		log.Error("kaasd stopped with an error", "err", err)
		return 1
	}
	log.Info("kaasd stopped")
	return 0
}

// parse reads flags, each defaulting to its KAAS_* environment variable; a secret's
// variable may name a file instead (<VAR>_FILE, see withSecretFiles).
func parse(args []string, getenv func(string) string, stderr io.Writer) (kaasd.Config, string, error) {
	cfg := kaasd.Defaults()
	getenv, err := withSecretFiles(getenv)
	if err != nil {
		return cfg, "", err
	}
	fs := flag.NewFlagSet("kaasd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	str := func(p *string, name, env_, usage string) { fs.StringVar(p, name, env(env_, *p), usage+" ("+env_+")") }
	str(&cfg.NATSURL, "nats-url", "KAAS_NATS_URL", "NATS server URLs, separated by commas (or KAAS_NATS_URL_FILE); empty runs JetStream embedded in the data dir")
	str(&cfg.NATSListen, "nats-listen", "KAAS_NATS_LISTEN", "host:port where the embedded NATS also listens; empty: in-process only")
	str(&cfg.NATSCAFile, "nats-ca-file", "KAAS_NATS_CA_FILE", "PEM CAs the NATS servers' certificates must chain to: TLS to KAAS_NATS_URL (default: the system's CAs when the server requires TLS)")
	str(&cfg.NATSCertFile, "nats-cert-file", "KAAS_NATS_CERT_FILE", "PEM client certificate for NATS servers that verify them (with --nats-key-file)")
	str(&cfg.NATSKeyFile, "nats-key-file", "KAAS_NATS_KEY_FILE", "PEM key of --nats-cert-file")
	str(&cfg.NATSCredsFile, "nats-creds-file", "KAAS_NATS_CREDS_FILE", "NATS .creds file (user JWT and nkey seed) for a server in operator mode")
	str(&cfg.NATSUser, "nats-user", "KAAS_NATS_USER", "NATS user, with its password in KAAS_NATS_PASSWORD or KAAS_NATS_PASSWORD_FILE")
	str(&cfg.DataDir, "data-dir", "KAAS_DATA_DIR", "directory for JetStream, the secrets key and OVA files")
	str(&cfg.AMQPURL, "amqp-url", "KAAS_AMQP_URL", "RabbitMQ URL VCD publishes API-extension calls to, amqp:// or amqps:// (or KAAS_AMQP_URL_FILE)")
	str(&cfg.AMQPTLS.CAFile, "amqp-ca-file", "KAAS_AMQP_CA_FILE", "amqps://: PEM CAs the broker's certificate must chain to (default: the system's CAs)")
	str(&cfg.AMQPTLS.CertFile, "amqp-cert-file", "KAAS_AMQP_CERT_FILE", "amqps://: PEM client certificate for a broker that verifies them (with --amqp-key-file)")
	str(&cfg.AMQPTLS.KeyFile, "amqp-key-file", "KAAS_AMQP_KEY_FILE", "amqps://: PEM key of --amqp-cert-file")
	str(&cfg.AMQPTLS.ServerName, "amqp-server-name", "KAAS_AMQP_SERVER_NAME", "amqps://: name the broker's certificate must carry (default: the URL's host)")
	str(&cfg.AMQPExchange, "amqp-exchange", "KAAS_AMQP_EXCHANGE", "exchange registered with VCD (CSE's default)")
	str(&cfg.AMQPRoutingKey, "amqp-routing-key", "KAAS_AMQP_ROUTING_KEY", "routing key registered with VCD (CSE's default)")
	str(&cfg.AMQPQueue, "amqp-queue", "KAAS_AMQP_QUEUE", "durable queue to consume; default: the routing key")
	str(&cfg.AdminAddr, "admin-addr", "KAAS_ADMIN_ADDR", "listener for /metrics, /livez and /readyz")
	str(&cfg.VCDURL, "vcd-url", "KAAS_VCD_URL", "VCD API URL (https://vcd.example.com/api), or the simulator's; required by the executor and mirror roles")
	str(&cfg.VCDOrg, "vcd-org", "KAAS_VCD_ORG", "org of the VCD service account (System for a provider account)")
	str(&cfg.VCDUser, "vcd-user", "KAAS_VCD_USER", "VCD service account user")
	str(&cfg.VCDCatalog, "vcd-catalog", "KAAS_VCD_CATALOG", "catalog holding the Kubernetes templates (default kaas-templates)")
	str(&cfg.VCDPublicURL, "vcd-public-url", "KAAS_VCD_PUBLIC_URL", "VCD's address as tenants reach it, for the VCD task hrefs kaas answers with; default KAAS_VCD_URL without /api")
	// Secrets come from the environment or files only: flags show up in process listings.
	cfg.VCDPassword, cfg.VCDToken = getenv("KAAS_VCD_PASSWORD"), getenv("KAAS_VCD_TOKEN")
	cfg.NATSPassword = getenv("KAAS_NATS_PASSWORD")
	// The URLs may hold a password: `kaasd -h` and usage errors show their defaults.
	redactDefault(fs, "amqp-url")
	redactDefault(fs, "nats-url")
	insecure := env("KAAS_VCD_INSECURE", "false") == "true"
	fs.BoolVar(&cfg.VCDInsecure, "vcd-insecure", insecure, "skip TLS verification of VCD (KAAS_VCD_INSECURE=true)")
	str(&cfg.ProviderOrg, "provider-org", "KAAS_PROVIDER_ORG", "URN of VCD's System org, whose users are providers (VCD's fixed id by default)")
	str(&cfg.SecretsKeyFile, "secrets-key-file", "KAAS_SECRETS_KEY_FILE", "keys sealing kubeconfigs at rest: 32 raw bytes, or base64 keys one per line, the first sealing, all opening; "+
		"default <data-dir>/secrets.key, made on first start")
	level := env("KAAS_LOG_LEVEL", "info")
	fs.StringVar(&level, "log-level", level, "debug, info, warn or error (KAAS_LOG_LEVEL)")
	roles := env("KAAS_ROLES", strings.Join(cfg.Roles, ","))
	fs.StringVar(&roles, "roles", roles, "roles this process plays (KAAS_ROLES)")
	intVar := func(p *int, name, env_, usage string) error {
		def := *p
		if v := getenv(env_); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not a number", env_, v)
			}
			def = n
		}
		fs.IntVar(p, name, def, usage+" ("+env_+")")
		return nil
	}
	viewRecords := int(cfg.ViewSnapshotRecords)
	if err := errors.Join(
		intVar(&cfg.AMQPPrefetch, "amqp-prefetch", "KAAS_AMQP_PREFETCH", "requests in flight per consumer"),
		intVar(&cfg.ExecutorWorkers, "executor-workers", "KAAS_EXECUTOR_WORKERS", "commands run at once (0: default)"),
		intVar(&cfg.Replicas, "replicas", "KAAS_REPLICAS", "JetStream stream replicas (1, or 3 on a NATS cluster)"),
		intVar(&cfg.MaxDeliveryErrors, "executor-max-delivery-errors", "KAAS_EXECUTOR_MAX_DELIVERY_ERRORS",
			"failed deliveries in a row after which a command goes to the dead-letter queue (0: 30)"),
		intVar(&cfg.SnapshotEvery, "snapshot-every", "KAAS_SNAPSHOT_EVERY",
			"events a cluster gains between snapshots of its state (0: 200)"),
		intVar(&viewRecords, "view-snapshot-records", "KAAS_VIEW_SNAPSHOT_RECORDS",
			"records (commands and events) the projector folds before a snapshot of its views is due sooner than the interval (0: 200000)"),
		intVar(&cfg.MirrorWorkers, "mirror-workers", "KAAS_MIRROR_WORKERS", "clusters and operations the VCD mirror makes match at once (0: 4)"),
	); err != nil {
		return cfg, "", err
	}
	poll := env("KAAS_POLL_INTERVAL", "0s")
	fs.StringVar(&poll, "poll-interval", poll, "how often a waiting operation looks at VCD again; 0: 2s (KAAS_POLL_INTERVAL)")
	retryBase := env("KAAS_EXECUTOR_RETRY_BASE", "0s")
	fs.StringVar(&retryBase, "executor-retry-base", retryBase, "first wait after a retryable VCD error, doubling up to a minute; 0: 1s (KAAS_EXECUTOR_RETRY_BASE)")
	str(&cfg.Build.Org, "build-org", "KAAS_BUILD_ORG", "org whose catalog template builds and imports go to and whose VDC builds run in; default: the service account's org")
	str(&cfg.Build.VDC, "build-vdc", "KAAS_BUILD_VDC", "org VDC template builds run their temporary vApp in; empty refuses builds")
	str(&cfg.Build.Network, "build-network", "KAAS_BUILD_NETWORK", "network of the build VDC, with internet access for the guest's downloads; empty refuses builds")
	str(&cfg.Build.StorageProfile, "build-storage-profile", "KAAS_BUILD_STORAGE_PROFILE", "storage profile of build VMs; default: the VDC's default")
	str(&cfg.Build.OVADir, "ova-dir", "KAAS_OVA_DIR", "the only directory OVA files named in template builds and imports are uploaded from; default <data-dir>/ova")
	buildTimeout := env("KAAS_BUILD_TIMEOUT", "0s")
	fs.StringVar(&buildTimeout, "build-timeout", buildTimeout, "how long a build's guest may customize itself; 0: 30m (KAAS_BUILD_TIMEOUT)")
	bootTimeout := env("KAAS_EXECUTOR_BOOT_TIMEOUT", "0s")
	fs.StringVar(&bootTimeout, "executor-boot-timeout", bootTimeout, "how long a node may take to boot and join; 0: 20m (KAAS_EXECUTOR_BOOT_TIMEOUT)")
	rightIDs := env("KAAS_RIGHT_IDS", "")
	fs.StringVar(&rightIDs, "right-ids", rightIDs, "right URNs VCD sends, as urn=name pairs separated by ';': overrides what kaasd learns from VCD (KAAS_RIGHT_IDS)")
	rightsRefresh := env("KAAS_RIGHTS_REFRESH", cfg.RightsRefresh.String())
	fs.StringVar(&rightsRefresh, "rights-refresh", rightsRefresh, "how often the URNs of CSE's rights are read from VCD again once known; 0: only until found (KAAS_RIGHTS_REFRESH)")
	str(&cfg.PublishRights, "publish-rights", "KAAS_PUBLISH_RIGHTS", "kaasd install: tenant orgs that get CSE's rights bundle: all, none, or org names separated by commas")
	relaxedSync := env("KAAS_NATS_RELAXED_SYNC", "0s")
	fs.StringVar(&relaxedSync, "nats-relaxed-sync", relaxedSync, "embedded JetStream: sync to disk in the background this often instead of "+
		"before acknowledging each write (faster; a power loss can lose that much accepted history); 0: sync before every ack (KAAS_NATS_RELAXED_SYNC)")
	cmdRetention, evtRetention := env("KAAS_COMMAND_RETENTION", "0s"), env("KAAS_EVENT_RETENTION", "0s")
	fs.StringVar(&cmdRetention, "command-retention", cmdRetention, "how long commands are kept; 0: forever (KAAS_COMMAND_RETENTION)")
	fs.StringVar(&evtRetention, "event-retention", evtRetention, "how long events are kept; 0: forever, which audit and replay need (KAAS_EVENT_RETENTION)")
	auditRetention := env("KAAS_AUDIT_RETENTION", "0s")
	fs.StringVar(&auditRetention, "audit-retention", auditRetention, "how long the KAAS_AUDIT archive keeps records; 0: forever (KAAS_AUDIT_RETENTION)")
	fs.BoolVar(&cfg.MutableHistory, "mutable-history", env("KAAS_MUTABLE_HISTORY", "false") == "true",
		"let stored history be deleted (only where a law demands erasure) (KAAS_MUTABLE_HISTORY=true)")
	cloudSync := env("KAAS_CLOUD_SYNC_INTERVAL", cfg.CloudSyncInterval.String())
	fs.StringVar(&cloudSync, "cloud-sync-interval", cloudSync, "how often VCD's templates and org VDCs are read again; 0: at start only (KAAS_CLOUD_SYNC_INTERVAL)")
	mirrorResync := env("KAAS_MIRROR_RESYNC", "0s")
	fs.StringVar(&mirrorResync, "mirror-resync", mirrorResync, "how often every cluster's entity in VCD is read again and put back if changed behind kaas's back; 0: 10m, negative: never (KAAS_MIRROR_RESYNC)")
	taskWait := env("KAAS_TASK_WAIT", "0s")
	fs.StringVar(&taskWait, "task-wait", taskWait, "how long the answer to a change waits for its VCD task before it names kaas's operation instead; 0: 5s, negative: no wait (KAAS_TASK_WAIT)")
	fs.BoolVar(&cfg.NoViewSnapshots, "no-view-snapshots", env("KAAS_VIEW_SNAPSHOTS", "true") == "false",
		"never write or start from snapshots of the projector's views: every start folds them from sequence 1 (KAAS_VIEW_SNAPSHOTS=false)")
	viewInterval := env("KAAS_VIEW_SNAPSHOT_INTERVAL", "0s")
	fs.StringVar(&viewInterval, "view-snapshot-interval", viewInterval, "most time between snapshots of the projector's views while it folds records; 0: 10m (KAAS_VIEW_SNAPSHOT_INTERVAL)")
	ackWait := env("KAAS_EXECUTOR_ACK_WAIT", "0s")
	fs.StringVar(&ackWait, "executor-ack-wait", ackWait, "how soon a command held by a dead executor runs elsewhere; 0: 10s (KAAS_EXECUTOR_ACK_WAIT)")
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected argument %q (see kaasd -h)", fs.Arg(0))
	}
	if cfg.PollInterval, err = time.ParseDuration(poll); err != nil {
		return cfg, "", fmt.Errorf("poll interval %q: %w", poll, err)
	}
	if cfg.RetryBase, err = time.ParseDuration(retryBase); err != nil {
		return cfg, "", fmt.Errorf("executor retry base %q: %w", retryBase, err)
	}
	if cfg.BootTimeout, err = time.ParseDuration(bootTimeout); err != nil {
		return cfg, "", fmt.Errorf("executor boot timeout %q: %w", bootTimeout, err)
	}
	if cfg.Build.Timeout, err = time.ParseDuration(buildTimeout); err != nil {
		return cfg, "", fmt.Errorf("build timeout %q: %w", buildTimeout, err)
	}
	if cfg.NATSRelaxedSync, err = time.ParseDuration(relaxedSync); err != nil {
		return cfg, "", fmt.Errorf("NATS relaxed sync %q: %w", relaxedSync, err)
	}
	if cfg.CommandRetention, err = time.ParseDuration(cmdRetention); err != nil {
		return cfg, "", fmt.Errorf("command retention %q: %w", cmdRetention, err)
	}
	if cfg.EventRetention, err = time.ParseDuration(evtRetention); err != nil {
		return cfg, "", fmt.Errorf("event retention %q: %w", evtRetention, err)
	}
	if cfg.AuditRetention, err = time.ParseDuration(auditRetention); err != nil {
		return cfg, "", fmt.Errorf("audit retention %q: %w", auditRetention, err)
	}
	if cfg.RightIDs, err = parseRightIDs(rightIDs); err != nil {
		return cfg, "", err
	}
	if cfg.RightsRefresh, err = time.ParseDuration(rightsRefresh); err != nil {
		return cfg, "", fmt.Errorf("rights refresh %q: %w", rightsRefresh, err)
	}
	if cfg.CloudSyncInterval, err = time.ParseDuration(cloudSync); err != nil {
		return cfg, "", fmt.Errorf("cloud sync interval %q: %w", cloudSync, err)
	}
	if cfg.ViewSnapshotInterval, err = time.ParseDuration(viewInterval); err != nil {
		return cfg, "", fmt.Errorf("view snapshot interval %q: %w", viewInterval, err)
	}
	if viewRecords < 0 {
		return cfg, "", fmt.Errorf("KAAS_VIEW_SNAPSHOT_RECORDS must not be negative, not %d", viewRecords)
	}
	cfg.ViewSnapshotRecords = uint64(viewRecords)
	if cfg.AckWait, err = time.ParseDuration(ackWait); err != nil {
		return cfg, "", fmt.Errorf("executor ack wait %q: %w", ackWait, err)
	}
	if cfg.MirrorResync, err = time.ParseDuration(mirrorResync); err != nil {
		return cfg, "", fmt.Errorf("mirror resync %q: %w", mirrorResync, err)
	}
	if cfg.TaskWait, err = time.ParseDuration(taskWait); err != nil {
		return cfg, "", fmt.Errorf("task wait %q: %w", taskWait, err)
	}
	cfg.Roles = strings.Split(roles, ",")
	return cfg, level, cfg.Validate()
}

// parseRightIDs reads "urn:vcloud:right:…=cse:nativeCluster: Full Access;…".
func parseRightIDs(s string) (map[string]string, error) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		urn, name, ok := strings.Cut(pair, "=")
		urn, name = strings.TrimSpace(urn), strings.TrimSpace(name)
		if !ok || !strings.HasPrefix(urn, "urn:") || name == "" {
			return nil, fmt.Errorf("KAAS_RIGHT_IDS: %q is not urn=name", pair)
		}
		out[urn] = name
	}
	return out, nil
}
