// Package deploy is the composition root of kaas: everything about running processes.
// deploy/kaasd wires the components into the kaasd service, deploy/svc holds the process
// plumbing they share (logging, the admin listener with /metrics, /livez and /readyz), and
// deploy/cmd holds the binaries. Only code under deploy imports across components.
package deploy
