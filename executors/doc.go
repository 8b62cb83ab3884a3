// Package executors carries out cluster commands on VMware Cloud Director.
//
// An Executor consumes KAAS_COMMANDS with a durable pull consumer. For each delivery it
// loads the cluster's history, asks the aggregate (package cluster) whether the command may
// run, and then drives the operation one short step at a time: every step is one idempotent
// VCD call whose outcome is recorded as an event before the next step starts. When VCD is
// still working (a task running, a VM booting) the command is handed back to JetStream with
// a delay instead of holding a goroutine, so a few workers serve hundreds of clusters
// provisioning at once, and a crash at any moment resumes from the last recorded event on
// the next delivery. The command is acknowledged only when its operation has ended,
// succeeded or failed, so no operation is ever left behind.
//
// A cluster's commands run one at a time and in order; different clusters run in parallel.
// Errors are classified once, where VCD is called: retryable errors (busy entity, timeouts,
// 5xx) are retried with backoff and recorded as StepRetrying; terminal ones (bad template,
// quota, missing network) fail the operation with a reason and roll back when the tenant
// asked for it.
//
// VCD is reached through the small [VCD] interface declared here: package vcd implements it
// on go-vcloud-director (against a real VCD, or the simulator deploy/vcdsim); package vcdmem
// is an in-memory implementation for this package's unit tests.
package executors
