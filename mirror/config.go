package mirror

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config tunes the mirror.
type Config struct {
	// Resync is how often every live cluster's entity is read again from VCD and put back
	// when it was changed behind kaas's back; 0: 10 minutes; negative: never.
	Resync time.Duration
	// Workers is how many items are reconciled at once; 0: 4.
	Workers int
	// RetryBase is the first wait after a retryable VCD error, doubling up to RetryMax;
	// a terminal error waits RetryMax. 0: 1s and 2 minutes.
	RetryBase, RetryMax time.Duration
	// Instance names this process in the lease: a restarted instance with the same name
	// takes the lease back at once, another waits for it to expire. Default: the host name.
	Instance string
	// LeaseTTL is how long an instance that stopped renewing the lease keeps it; 0: 15s.
	LeaseTTL time.Duration
	// APIVersion is the VCD API version CSE's clients use with this VCD, which decides the
	// entity type they read (cse-rde.md §1.1): on 35.0 (VCD 10.2) the entities are of type
	// 1.0.0 and carry the v1.0 payload, the one the /api/cse routes answer at 35.0; on
	// 36.0 (the default) type 2.1.0 and the v2.1 payload. The VCD client's entity type
	// must match.
	APIVersion string
	// TaskNamespace is the serviceNamespace of the tasks made; default CSE's, vcloud.cse.
	TaskNamespace string
	Logger        *slog.Logger
	Metrics       *Metrics
}

func (c *Config) setDefaults() {
	if c.Resync == 0 {
		c.Resync = 10 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.RetryBase == 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 2 * time.Minute
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.APIVersion == "" {
		c.APIVersion = "36.0"
	}
	if c.TaskNamespace == "" {
		c.TaskNamespace = "vcloud.cse"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Resync > 0 && c.Resync < time.Second {
		errs = append(errs, fmt.Errorf("resync interval %s is shorter than a second", c.Resync))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("workers must be 1..64, not %d", c.Workers))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("retry base %s and max %s: want 0 < base <= max", c.RetryBase, c.RetryMax))
	}
	if c.APIVersion != "35.0" && c.APIVersion != "36.0" {
		errs = append(errs, fmt.Errorf("API version %q: CSE's entities are for 35.0 and 36.0", c.APIVersion))
	}
	if c.Instance == "" {
		errs = append(errs, errors.New("instance name is empty and the host has none"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease TTL %s is shorter than a second", c.LeaseTTL))
	}
	return errors.Join(errs...)
}
