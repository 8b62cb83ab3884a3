// Package vcdexttest is test support for package vcdext and for anything served through it:
// [RequireBroker] fails, rather than skips, a test when RabbitMQ is not reachable, and
// [UniqueNames] gives a test its own exchange and queue, deleted when it ends.
//
// VCD's side of the protocol (the client that publishes as VCD does, the echo extension, the
// load driver) is package vcdextclient, which binaries link too; the names below stand for
// it so that tests need one import. Only tests import this package (check-imports.sh).
package vcdexttest
