package vcdext

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TLS is how a [Consumer] and [Declare] check the broker of an amqps:// URL and, when it
// asks for one, prove who they are. The zero value trusts the system's CAs, checks the
// URL's host name and sends no client certificate. The files are read again at every
// connection, so renewed certificates take effect at the next reconnect.
type TLS struct {
	// CAFile is a PEM file of the CA certificates the broker's certificate must chain to;
	// empty: the system's CAs.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for a broker that
	// requires one (RabbitMQ's fail_if_no_peer_cert); both or neither.
	CertFile, KeyFile string
	// ServerName is the name the broker's certificate must carry; empty: the URL's host.
	ServerName string
}

// ClientConfig reads the files into the TLS configuration of one connection to the broker
// (amqp091-go sets ServerName on it: make one per connection). Errors name the file.
func (t TLS) ClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	var errs []error
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("TLS CA file: %w", err))
		default:
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("TLS CA file %s: no PEM certificate in it", t.CAFile))
			}
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("TLS client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err))
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		errs = append(errs, errors.New("TLS client certificate and key: give both files or neither"))
	}
	return cfg, errors.Join(errs...)
}

// explain adds to a failed amqps:// connection what to check: the bare x509 error does not
// say which setting is wrong.
func (t TLS) explain(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		remote   *net.OpError
		frame    *amqp.Error
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the broker's certificate is not signed by a CA of the TLS CA file)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (the broker's certificate does not name the URL's host: fix the URL or set the TLS server name)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w (the broker's certificate is not valid now or not for a server)", err)
	case errors.As(err, &record):
		return fmt.Errorf("%w (the broker does not speak TLS on this port: amqps:// needs its TLS listener, 5671 by default)", err)
	case t.CertFile == "" && (errors.As(err, &remote) && remote.Op == "remote error" ||
		errors.As(err, &frame) && frame.Code == amqp.FrameError ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)):
		// What a broker that verifies clients does to one without a certificate, once the
		// handshake is over: a TLS alert, or a close, depending on timing, which amqp091-go
		// reports as a frame error when it comes while the connection opens.
		return fmt.Errorf("%w (if the broker verifies clients (fail_if_no_peer_cert), give a client certificate and key)", err)
	}
	return err
}

// tlsConfig is the TLS configuration of one connection to c's broker, its files read now;
// nil for an amqp:// URL.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if uri, err := amqp.ParseURI(c.URL); err != nil || uri.Scheme != "amqps" {
		return nil, nil //nolint:nilerr // Validate reports a bad URL; plain AMQP has no TLS
	}
	return c.TLS.ClientConfig()
}

// explain is TLS.explain for an amqps:// URL; a plain connection's errors are left alone.
func (c *Config) explain(err error) error {
	if uri, perr := amqp.ParseURI(c.URL); perr != nil || uri.Scheme != "amqps" {
		return err
	}
	return c.TLS.explain(err)
}
