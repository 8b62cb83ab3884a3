// Command kaasctl is kaas's command line; see package kaasctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kaasproject/kaas/deploy/kaasctl"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kaasctl.Execute(ctx, os.Args[1:], kaasctl.Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Version: version,
	})
	stop()
	os.Exit(code)
}
