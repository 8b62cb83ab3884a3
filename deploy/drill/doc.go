// Package drill holds the drills of kaas run as a provider runs it: three kaasd processes on
// a three-node NATS cluster (deploy/nats, streams replicated three times), RabbitMQ, and
// vcdsim playing VCD over HTTPS. Each drill posts creates over HTTPS while something fails
// (a kaasd or a NATS node killed, RabbitMQ restarted, the whole NATS cluster stopped, a
// rolling restart of every kaasd), then counts what came of them: every 202 has its
// cluster, VCD has one vApp per cluster and nothing else, no operation is stuck, and every
// instance's replay equals its live views and verifies the history.
//
// The package has tests only. `go test` runs the short form (drills a and b, 20 creates
// each); KAAS_DRILL=full runs all five with 100 creates each (make drill), KAAS_DRILL_TABLE
// names a file for the table of what was done and counted, and KAAS_DRILL_LOGS a directory
// to keep the processes' logs in (a failed run keeps them anyway).
package drill
