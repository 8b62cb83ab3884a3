package kaasd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// connectNATS connects to the standalone servers of cfg.NATSURL, over TLS and as the user
// cfg names when it says so, and says which setting to check when a server refuses.
func connectNATS(cfg Config, opts []nats.Option) (*nats.Conn, error) {
	more, err := natsOptions(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.NATSURL, append(opts, more...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", RedactURLs(cfg.NATSURL), explainNATS(err, cfg.NATSCertFile != ""))
	}
	return nc, nil
}

// natsOptions are the TLS and authentication options of cfg. Each file option is applied
// once here, so that a bad file is reported under its variable's name; nats.go reads the
// files again at every connection.
func natsOptions(cfg Config) ([]nats.Option, error) {
	var (
		opts []nats.Option
		errs []error
	)
	try := func(names string, o nats.Option) {
		if err := o(&nats.Options{}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", names, err))
			return
		}
		opts = append(opts, o)
	}
	if cfg.NATSCAFile != "" {
		try("KAAS_NATS_CA_FILE", nats.RootCAs(cfg.NATSCAFile))
	}
	if cfg.NATSCertFile != "" || cfg.NATSKeyFile != "" {
		try("KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE", nats.ClientCert(cfg.NATSCertFile, cfg.NATSKeyFile))
	}
	if cfg.NATSCredsFile != "" {
		// nats.go reads the file only when it connects, and then says little about it.
		if b, err := os.ReadFile(cfg.NATSCredsFile); err != nil {
			errs = append(errs, fmt.Errorf("KAAS_NATS_CREDS_FILE: %w", err))
		} else if !strings.Contains(string(b), "-----BEGIN NATS USER JWT-----") {
			errs = append(errs, fmt.Errorf("KAAS_NATS_CREDS_FILE: %s is not a NATS .creds file (no user JWT in it)", cfg.NATSCredsFile))
		} else {
			opts = append(opts, nats.UserCredentials(cfg.NATSCredsFile))
		}
	}
	if cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	}
	return opts, errors.Join(errs...)
}

// explainNATS adds to a refused connection which setting to check; withCert says kaasd
// showed a client certificate.
func explainNATS(err error, withCert bool) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		remote   *net.OpError
	)
	switch {
	case errors.Is(err, nats.ErrAuthorization):
		return fmt.Errorf("%w (the server refused kaasd's credentials: check KAAS_NATS_USER and KAAS_NATS_PASSWORD, or KAAS_NATS_CREDS_FILE, "+
			"against the server's authorization block or account)", err)
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the server's certificate is not signed by a CA of KAAS_NATS_CA_FILE, or of the system's when it is unset)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (the server's certificate does not name the host of KAAS_NATS_URL)", err)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("%w (KAAS_NATS_CA_FILE or KAAS_NATS_CERT_FILE asks for TLS, and the server has no tls block)", err)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("%w (the server requires TLS: set KAAS_NATS_CA_FILE to the CA that signed its certificate)", err)
	case !withCert && (errors.Is(err, nats.ErrTLS) || errors.As(err, &remote) && remote.Op == "remote error"):
		// What a server that verifies clients does to one without a certificate: a TLS
		// alert, or a close right after the handshake, depending on timing.
		return fmt.Errorf("%w (if the server verifies clients (verify: true), set KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE)", err)
	}
	return err
}

// RedactURLs hides the passwords of a URL, or of a comma-separated list of them (a NATS
// cluster's servers).
func RedactURLs(raw string) string {
	if raw == "" {
		return ""
	}
	urls := strings.Split(raw, ",")
	for i, s := range urls {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
			urls[i] = u.Redacted()
		} else {
			urls[i] = "(unparsable)"
		}
	}
	return strings.Join(urls, ",")
}
