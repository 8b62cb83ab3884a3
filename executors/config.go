package executors

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events/store"
)

// Config tunes an Executor.
type Config struct {
	// Consumer is the durable consumer's name. It is API: renaming it makes a new consumer
	// that starts from the first command again.
	Consumer string
	// Workers is how many commands run at once (on different clusters). Waiting for VCD
	// holds no worker, so a few are plenty.
	Workers int
	// PollInterval is how soon a command comes back while VCD is still working on a step.
	PollInterval time.Duration
	// MaxAttempts is how many times one step may hit a retryable error before the
	// operation fails.
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff between attempts.
	RetryBase, RetryMax time.Duration
	// BootTimeout is how long a node may take to finish its bootstrap.
	BootTimeout time.Duration
	// OperationTimeout is how long any operation may take before it is failed.
	OperationTimeout time.Duration
	// AckWait is how long JetStream waits for an answer before delivering a command again
	// (to another executor, if this one died). Long steps send progress to extend it.
	AckWait time.Duration
	// StepsPerDelivery bounds how many steps one delivery runs before the command yields to
	// other clusters' commands.
	StepsPerDelivery int
	// MaxDeliveryErrors is how many deliveries in a row of one command may fail (history
	// unreadable, an append refused, VCD unreachable for a cloud sync) before the command
	// is dead-lettered, so that nothing retries forever.
	MaxDeliveryErrors int
	// SnapshotEvery is how many events a cluster gains between snapshots of its state;
	// loading it after a restart reads the snapshot and only the events since.
	SnapshotEvery int
	// Build is where template builds run and how long their guests may customize.
	Build Build
	// Leases, when set, is the bucket in which the executors of several kaasd take a lease
	// on a cluster before running its commands, so that no two of them ever run steps of
	// one cluster at once (see leases). One kaasd alone needs none.
	Leases store.KV
	// Instance names this executor in the leases it holds (a host name); default random.
	Instance string
	// LeaseTTL is how long a lease outlives its last renewal: how long a cluster whose
	// executor died waits before another takes it over. Renewed every third of it.
	LeaseTTL time.Duration
	// Logger receives lifecycle and failure logs; Metrics may be nil.
	Logger  *slog.Logger
	Metrics *Metrics
}

// Build is where template builds make their temporary vApps (kaasd's KAAS_BUILD_* settings).
// Imports, deprecations and deletes need none of it but the org.
type Build struct {
	// Org holds the catalog templates are uploaded and captured into, and the VDC builds run
	// in (KAAS_BUILD_ORG); empty is the VCD connection's own org.
	Org string
	// VDC and Network are the org VDC and its network build VMs run on (KAAS_BUILD_VDC,
	// KAAS_BUILD_NETWORK); StorageProfile, optional, where their disks go
	// (KAAS_BUILD_STORAGE_PROFILE).
	VDC, Network, StorageProfile string
	// Timeout is how long a build's guest may customize itself (KAAS_BUILD_TIMEOUT).
	Timeout time.Duration
	// OVADir is the only directory OVA files are uploaded from (KAAS_OVA_DIR): a provider's
	// request names a file, and kaasd must not read any other file of its host (its key,
	// its streams) into VCD's catalog. Empty refuses OVA files; https OVAs need none.
	OVADir string
}

// OVAFile checks that an OVA a provider named may be uploaded: an https URL (VCD downloads
// it), or a regular file under OVADir, links resolved. It returns nil or why not.
func (b Build) OVAFile(ova string) error {
	if strings.HasPrefix(ova, "https://") || strings.HasPrefix(ova, "http://") {
		return nil
	}
	if b.OVADir == "" {
		return fmt.Errorf("OVA %q is a file, and kaasd uploads OVA files only from KAAS_OVA_DIR, which is not set", ova)
	}
	dir, err := filepath.EvalSymlinks(b.OVADir)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return fmt.Errorf("KAAS_OVA_DIR %q: %w", b.OVADir, err)
	}
	path, err := filepath.EvalSymlinks(ova)
	if err != nil {
		return fmt.Errorf("OVA file %q: %w", ova, err)
	}
	if rel, err := filepath.Rel(dir, path); err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return fmt.Errorf("OVA file %q is not in KAAS_OVA_DIR (%s): kaasd uploads OVA files from there only", ova, b.OVADir)
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("OVA file %q is not a regular file", ova)
	}
	return nil
}

// Validate reports why builds cannot run with this configuration, or nil. Builds are
// refused (and nothing else) while it fails.
func (b Build) Validate() error {
	var missing []string
	if b.VDC == "" {
		missing = append(missing, "KAAS_BUILD_VDC (the org VDC build VMs run in)")
	}
	if b.Network == "" {
		missing = append(missing, "KAAS_BUILD_NETWORK (the network of that VDC they use)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("template builds are not configured: set %s", strings.Join(missing, " and "))
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Consumer == "" {
		c.Consumer = "executor"
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.PollInterval == 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.RetryBase == 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Minute
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 20 * time.Minute
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = 2 * time.Hour
	}
	if c.AckWait == 0 {
		c.AckWait = 10 * time.Second
	}
	if c.LeaseTTL == 0 {
		// A lease outlives a few missed renewals, as a command its ack wait.
		c.LeaseTTL = 3 * c.AckWait
	}
	if c.StepsPerDelivery == 0 {
		c.StepsPerDelivery = 50
	}
	if c.MaxDeliveryErrors == 0 {
		c.MaxDeliveryErrors = 30
	}
	if c.Build.Timeout == 0 {
		c.Build.Timeout = min(30*time.Minute, c.OperationTimeout)
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 200
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers must be between 1 and 1024, not %d", c.Workers))
	}
	if c.PollInterval < time.Millisecond {
		errs = append(errs, fmt.Errorf("poll interval %s is too short", c.PollInterval))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts must be 1 or more, not %d", c.MaxAttempts))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("retry backoff %s..%s is not a range", c.RetryBase, c.RetryMax))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack wait %s is too short", c.AckWait))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease TTL %s is too short", c.LeaseTTL))
	}
	if c.BootTimeout <= 0 || c.OperationTimeout < c.BootTimeout {
		errs = append(errs, fmt.Errorf("boot timeout %s must be positive and no longer than the operation timeout %s", c.BootTimeout, c.OperationTimeout))
	}
	if c.Build.Timeout <= 0 || c.Build.Timeout > c.OperationTimeout {
		errs = append(errs, fmt.Errorf("build timeout %s must be positive and no longer than the operation timeout %s", c.Build.Timeout, c.OperationTimeout))
	}
	return errors.Join(errs...)
}
