// Command vcdsim runs the VMware Cloud Director simulator (package deploy/vcdsim): the VCD
// that `make run` and the end-to-end tests drive kaas against.
//
//	vcdsim [-addr 127.0.0.1:8443] [-config cloud.json] [-plain]
//	vcdsim ova -os ubuntu-22.04 -o FILE [-kubernetes v1.30.4 -containerd 1.7.20 -cni antrea -cni-version 1.15.1]
//
// The ova subcommand writes a small OVA shaped like Ubuntu's cloud image (vcdsim.WriteOVA)
// for scripts to upload; with -kubernetes, one that has Kubernetes installed (a ready-made
// template to import).
//
// Settings also come from VCDSIM_ADDR, VCDSIM_CONFIG and VCDSIM_AMQP_URL. It serves HTTPS
// with a self-signed certificate made at start (govcd is used with insecure=true), or plain
// HTTP with -plain.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ova" {
		return ova(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("vcdsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := func(k, d string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return d
	}
	addr := fs.String("addr", def("VCDSIM_ADDR", "127.0.0.1:8443"), "listen address (VCDSIM_ADDR)")
	config := fs.String("config", def("VCDSIM_CONFIG", ""), "JSON file describing the cloud (VCDSIM_CONFIG); default: a small one")
	amqp := fs.String("amqp-url", def("VCDSIM_AMQP_URL", ""), "RabbitMQ for the API-extension role (VCDSIM_AMQP_URL)")
	plain := fs.Bool("plain", false, "serve plain HTTP instead of HTTPS")
	level := fs.String("log-level", def("VCDSIM_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Its own logger, like kaasd's (JSON): the simulator shares no code with kaas.
	var l slog.Level
	err := l.UnmarshalText([]byte(*level))
	if err != nil {
		fmt.Fprintf(stderr, "vcdsim: log level %q: use debug, info, warn or error\n", *level)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: l}))
	cfg := vcdsim.Default()
	if *config != "" {
		if cfg, err = vcdsim.LoadConfig(*config); err != nil {
			fmt.Fprintln(stderr, "vcdsim:", err)
			return 2
		}
	}
	if *amqp != "" {
		cfg.AMQPURL = *amqp
	}
	sim, err := vcdsim.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "vcdsim:", err)
		return 2
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "vcdsim:", err)
		return 1
	}
	scheme := "https"
	if *plain {
		scheme = "http"
	} else {
		if ln, err = vcdsim.SelfSignedTLS(ln, "vcdsim"); err != nil {
			fmt.Fprintln(stderr, "vcdsim:", err)
			return 1
		}
	}
	base := scheme + "://" + ln.Addr().String()
	sim.SetBase(base)
	fmt.Fprintf(stdout, "vcdsim: VCD API at %s/api (provider: administrator@System / kaas-admin; tenants in org acme: alice / alice-pass, bob / bob-pass)\n", base)
	fmt.Fprintf(stdout, "vcdsim: inventory at %s/sim/inventory, faults at %s/sim/faults\n", base, base)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "vcdsim:", err)
			return 1
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return 0
}

// ova writes an OVA to a file, or to stdout with -o -.
func ova(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vcdsim ova", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var img vcdsim.BaseImage
	fs.StringVar(&img.OS, "os", "ubuntu-22.04", "ubuntu-20.04, ubuntu-22.04 or ubuntu-24.04")
	out := fs.String("o", "", "the OVA file to write; - for stdout")
	fs.StringVar(&img.KubernetesVersion, "kubernetes", "", "a Kubernetes version the image has installed (a ready-made template)")
	fs.StringVar(&img.ContainerdVersion, "containerd", "", "the containerd version installed, with -kubernetes")
	fs.StringVar(&img.CNI, "cni", "", "the CNI installed, with -kubernetes")
	fs.StringVar(&img.CNIVersion, "cni-version", "", "the CNI's version, with -kubernetes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vcdsim ova: -o FILE is required, and takes no arguments")
		return 2
	}
	if *out == "-" {
		if err := vcdsim.WriteOVA(stdout, img); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(stderr, "vcdsim ova:", err)
		return 1
	}
	err = vcdsim.WriteOVA(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "vcdsim ova:", err)
		_ = os.Remove(*out)
		return 1
	}
	return 0
}
