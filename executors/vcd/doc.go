// Package vcd is the executors' way into a real VMware Cloud Director: an implementation of
// executors.VCD on the unmodified go-vcloud-director SDK (govcd).
//
// Every method is level-triggered and never waits for VCD. It looks for what an earlier,
// perhaps interrupted, call made (the vApp by its name and the cluster id kaas writes into
// its description and metadata, a VM by its deterministic name), starts at most one VCD
// task towards the wanted state, and answers "not done yet" while a task runs; the executor
// asks again later. govcd's own helpers mostly poll tasks to the end, holding the caller;
// where they do, this package sends the same request through govcd's client and keeps the
// task reference instead, so that a few executor workers can drive hundreds of clusters.
// One call waits: EnsureImage of an OVA file sends its bytes, which only this process can
// do; VCD's import that follows is polled like any task (templates.go).
//
// Errors are classified here, once: VCD's busy-entity refusals, 5xx answers, timeouts and
// dropped connections are retryable; a missing VDC, network or template, a quota, or any
// other refusal is terminal, with VCD's status and message kept. govcd hands errors back
// as text ("API Error: 400: …"), so the classification reads that text: the one place
// kaas matches error strings, because the SDK leaves no other way.
package vcd
