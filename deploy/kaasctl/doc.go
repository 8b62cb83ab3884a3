// Package kaasctl is the command line of kaas for tenants and providers: log in to
// VMware Cloud Director, then create, change, inspect, share and delete clusters, list
// templates, enable org VDCs and run the service, as CSE's "vcd cse" client did.
//
// kaasctl talks only to VCD's HTTP API (/cloudapi for the session, /api/cse/... for the
// rest, which VCD relays to kaas), exactly as any CSE client does; it never reaches kaas's
// NATS or RabbitMQ. Its output is a table by default, or the API's own answer (-o json,
// -o yaml), so scripts read what the API said. Changes can wait for their operation
// (--wait), showing its steps. Exit codes: 0 success, 1 the API refused or an operation
// failed, 2 a usage error.
//
// [Execute] runs it with a process's streams; [NewRoot] is the command tree; [Client] is
// the API client, one method per route.
package kaasctl
