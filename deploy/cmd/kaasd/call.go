package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

// callCmd sends one API call the way VCD forwards it (over AMQP, in VCD's envelope, with a
// security context) and prints the reply. It proves the AMQP wiring end to end, which was
// CSE's hardest thing to diagnose, and lets a provider try the API without VCD.
func callCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	getenv, err := withSecretFiles(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd call:", err)
		return 2
	}
	fs := flag.NewFlagSet("kaasd call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kaasd call [-X METHOD] [-d BODY|@FILE] [-version 36.0] [-user URN] [-org URN] PATH[?QUERY]")
		fs.PrintDefaults()
	}
	def := func(name, d string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return d
	}
	method := fs.String("X", "GET", "HTTP method")
	data := fs.String("d", "", "request body, or @file to read it from a file")
	version := fs.String("version", "36.0", "API version for the Accept header")
	user := fs.String("user", "urn:vcloud:user:00000000-0000-0000-0000-0000000000a1", "caller's user URN (VCD's security context)")
	org := fs.String("org", "urn:vcloud:org:00000000-0000-0000-0000-0000000000a2", "caller's org URN (VCD's security context)")
	url := fs.String("amqp-url", def("KAAS_AMQP_URL", vcdext.DefaultURL), "RabbitMQ URL (KAAS_AMQP_URL)")
	redactDefault(fs, "amqp-url")
	var tlsFiles vcdext.TLS
	fs.StringVar(&tlsFiles.CAFile, "amqp-ca-file", def("KAAS_AMQP_CA_FILE", ""), "amqps://: PEM CAs of the broker (KAAS_AMQP_CA_FILE)")
	fs.StringVar(&tlsFiles.CertFile, "amqp-cert-file", def("KAAS_AMQP_CERT_FILE", ""), "amqps://: PEM client certificate (KAAS_AMQP_CERT_FILE)")
	fs.StringVar(&tlsFiles.KeyFile, "amqp-key-file", def("KAAS_AMQP_KEY_FILE", ""), "amqps://: PEM key of the client certificate (KAAS_AMQP_KEY_FILE)")
	fs.StringVar(&tlsFiles.ServerName, "amqp-server-name", def("KAAS_AMQP_SERVER_NAME", ""), "amqps://: name on the broker's certificate (KAAS_AMQP_SERVER_NAME)")
	exchange := fs.String("amqp-exchange", def("KAAS_AMQP_EXCHANGE", vcdext.DefaultExchange), "exchange (KAAS_AMQP_EXCHANGE)")
	key := fs.String("amqp-routing-key", def("KAAS_AMQP_ROUTING_KEY", vcdext.DefaultRoutingKey), "routing key (KAAS_AMQP_ROUTING_KEY)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the reply (VCD waits 10s)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path, query, _ := strings.Cut(fs.Arg(0), "?")
	body := []byte(*data)
	if name, ok := strings.CutPrefix(*data, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(stderr, "kaasd call:", err)
			return 2
		}
		body = b
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var tlsCfg *tls.Config
	if strings.HasPrefix(*url, "amqps:") {
		if tlsCfg, err = tlsFiles.ClientConfig(); err != nil {
			fmt.Fprintln(stderr, "kaasd call:", err)
			return 2
		}
	}
	client, err := vcdextclient.NewClientTLS(ctx, *url, *exchange, *key, tlsCfg)
	if err != nil {
		fmt.Fprintln(stderr, "kaasd call: cannot reach RabbitMQ:", err)
		return 1
	}
	defer client.Close()
	resp, err := client.Do(ctx, vcdextclient.Req{Method: strings.ToUpper(*method), Path: path, Query: query, Body: body,
		Headers: map[string]string{"Accept": "application/json;version=" + *version, "Content-Type": "application/json"},
		Caller:  ingress.Caller{User: *user, Org: *org}})
	if err != nil {
		fmt.Fprintf(stderr, "kaasd call: no reply: %v (is kaasd running and bound to exchange %q, routing key %q?)\n", err, *exchange, *key)
		return 1
	}
	fmt.Fprintf(stderr, "%d %s\n", resp.StatusCode, resp.Header.Get("Location"))
	var pretty bytes.Buffer
	if json.Indent(&pretty, resp.Body, "", "  ") == nil {
		pretty.WriteByte('\n')
		_, _ = stdout.Write(pretty.Bytes())
	} else {
		_, _ = stdout.Write(resp.Body)
	}
	if resp.StatusCode >= 300 {
		return 1
	}
	return 0
}
