package kaasd_test

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/ingress/vcdext"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/tlstest"
)

// natsOnly is a kaasd that needs nothing but NATS: the projector alone, no admin listener.
func natsOnly(t *testing.T, natsURL string) kaasd.Config {
	cfg := kaasd.Defaults()
	cfg.DataDir, cfg.NATSURL, cfg.Roles, cfg.AdminAddr = t.TempDir(), natsURL, []string{kaasd.RoleProjector}, ""
	cfg.SecretsKeyFile = writeKey(t)
	return cfg
}

// writeKey writes a key file as a provider makes one (head -c 32 /dev/urandom | base64).
func writeKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(p, []byte("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantStart starts kaasd with cfg. With wantErr empty it must start, and JetStream answer
// it; otherwise it must be refused with an error containing wantErr, which it returns.
func wantStart(t *testing.T, cfg kaasd.Config, wantErr string) error {
	t.Helper()
	s, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if wantErr != "" {
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Start = %v, want %q", err, wantErr)
		}
		return err
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Store().LastSequences(t.Context()); err != nil {
		t.Fatalf("kaasd started, JetStream does not answer: %v", err)
	}
	return nil
}

// TestNATSTLSAndPassword: kaasd reaches a NATS server that requires TLS and a user with the
// CA that signed the server's certificate and the user's password (and, for a server that
// verifies clients, a client certificate); every wrong setting is refused at start, saying
// which to check.
func TestNATSTLSAndPassword(t *testing.T) {
	ca, other := tlstest.NewCA(t, "kaas test CA"), tlstest.NewCA(t, "another CA")
	serverCert, client := ca.Server(t), ca.Client(t, "kaasd")
	users := []*server.User{{Username: "kaas", Password: "right horse battery"}}
	oneWay := natstest.StartWith(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, MinVersion: tls.VersionTLS12}
		o.Users = users
	})
	mutual := natstest.StartWith(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
		o.TLSVerify = true
		o.Users = users
	})
	elsewhere := natstest.StartWith(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "nats-1.example.com").TLS}, MinVersion: tls.VersionTLS12}
		o.Users = users
	})
	plain := natstest.Start(t)
	// By name rather than address: the certificate names localhost too, and checking a
	// name is what a provider's servers need.
	byName := func(s *natstest.Server) string {
		u, _ := url.Parse(s.ClientURL())
		u.Host = "localhost:" + u.Port()
		return u.String()
	}

	tests := []struct {
		name    string
		url     string
		set     func(c *kaasd.Config)
		wantErr string
	}{
		{name: "CA and password", url: oneWay.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = ca.CertFile, "kaas", "right horse battery"
		}},
		{name: "by host name, the cluster's URLs", url: byName(oneWay) + "," + byName(oneWay), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = ca.CertFile, "kaas", "right horse battery"
		}},
		{name: "mutual TLS", url: mutual.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSCertFile, c.NATSKeyFile, c.NATSUser, c.NATSPassword = ca.CertFile, client.CertFile, client.KeyFile, "kaas", "right horse battery"
		}},
		{name: "wrong password", url: oneWay.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = ca.CertFile, "kaas", "wrong"
		}, wantErr: "nats: Authorization Violation (the server refused kaasd's credentials: check KAAS_NATS_USER and KAAS_NATS_PASSWORD"},
		{name: "no user", url: oneWay.ClientURL(), set: func(c *kaasd.Config) { c.NATSCAFile = ca.CertFile },
			wantErr: "nats: Authorization Violation"},
		{name: "another CA", url: oneWay.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = other.CertFile, "kaas", "right horse battery"
		}, wantErr: "x509: certificate signed by unknown authority (the server's certificate is not signed by a CA of KAAS_NATS_CA_FILE"},
		{name: "the system's CAs", url: oneWay.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSUser, c.NATSPassword = "kaas", "right horse battery"
		}, wantErr: "certificate signed by unknown authority"},
		{name: "a name the certificate lacks", url: elsewhere.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = ca.CertFile, "kaas", "right horse battery"
		}, wantErr: "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs (the server's certificate does not name the host of KAAS_NATS_URL)"},
		{name: "no client certificate", url: mutual.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSUser, c.NATSPassword = ca.CertFile, "kaas", "right horse battery"
		}, wantErr: "(if the server verifies clients (verify: true), set KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE)"},
		{name: "TLS to a server without", url: plain.ClientURL(), set: func(c *kaasd.Config) { c.NATSCAFile = ca.CertFile },
			wantErr: "nats: secure connection not available (KAAS_NATS_CA_FILE or KAAS_NATS_CERT_FILE asks for TLS, and the server has no tls block)"},
		{name: "CA file missing", url: oneWay.ClientURL(), set: func(c *kaasd.Config) { c.NATSCAFile = "/etc/kaas/nope.pem" },
			wantErr: "KAAS_NATS_CA_FILE: nats: error loading or parsing rootCA file: open /etc/kaas/nope.pem: no such file or directory"},
		{name: "key of another certificate", url: mutual.ClientURL(), set: func(c *kaasd.Config) {
			c.NATSCAFile, c.NATSCertFile, c.NATSKeyFile = ca.CertFile, client.CertFile, serverCert.KeyFile
		}, wantErr: "KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE: nats: error loading client certificate: tls: private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := natsOnly(t, tt.url)
			tt.set(&cfg)
			if err := wantStart(t, cfg, tt.wantErr); err != nil && strings.Contains(err.Error(), "horse") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestNATSCredsFile: kaasd reaches a server in operator mode (accounts and users as JWTs,
// as a provider's NATS team runs it) as the user of a .creds file, and JetStream works for
// its account; a user of another account's signing is refused, and a file that is no .creds
// file is refused before connecting.
func TestNATSCredsFile(t *testing.T) {
	op, opClaims := newOperator(t)
	acct, acctJWT := newAccount(t, op, true)
	// The server's own account, which JetStream needs in operator mode.
	sys, sysJWT := newAccount(t, op, false)
	stranger, _ := nkeys.CreateAccount() // signs users the server does not trust
	srv := natstest.StartWith(t, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
		r := &server.MemAccResolver{}
		for kp, enc := range map[nkeys.KeyPair]string{acct: acctJWT, sys: sysJWT} {
			pub, _ := kp.PublicKey()
			if err := r.Store(pub, enc); err != nil {
				t.Fatal(err)
			}
		}
		o.AccountResolver = r
		o.SystemAccount, _ = sys.PublicKey()
	})
	dir := t.TempDir()
	notCreds := filepath.Join(dir, "not.creds")
	if err := os.WriteFile(notCreds, []byte("user: kaas\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, creds, wantErr string
	}{
		{name: "the account's user", creds: userCreds(t, acct, dir, "kaasd")},
		{name: "a user of an account the server does not know", creds: userCreds(t, stranger, dir, "stranger"), wantErr: "nats: Authorization Violation"},
		{name: "not a creds file", creds: notCreds, wantErr: "KAAS_NATS_CREDS_FILE: " + notCreds + " is not a NATS .creds file"},
		{name: "missing", creds: filepath.Join(dir, "nope.creds"), wantErr: "KAAS_NATS_CREDS_FILE: open " + filepath.Join(dir, "nope.creds")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := natsOnly(t, srv.ClientURL())
			cfg.NATSCredsFile = tt.creds
			wantStart(t, cfg, tt.wantErr)
		})
	}
}

func newOperator(t *testing.T) (nkeys.KeyPair, *jwt.OperatorClaims) {
	t.Helper()
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	claims := jwt.NewOperatorClaims(pub)
	if _, err := claims.Encode(kp); err != nil {
		t.Fatal(err)
	}
	return kp, claims
}

// newAccount is an account the operator signed, with JetStream without limits if js.
func newAccount(t *testing.T, op nkeys.KeyPair, js bool) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	claims := jwt.NewAccountClaims(pub)
	if js {
		claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	enc, err := claims.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	return kp, enc
}

// userCreds writes the .creds file of a new user the account signed.
func userCreds(t *testing.T, acct nkeys.KeyPair, dir, name string) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	claims := jwt.NewUserClaims(pub)
	claims.Name = name
	enc, err := claims.Encode(acct)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	creds, err := jwt.FormatUserConfig(enc, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".creds")
	if err := os.WriteFile(p, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIngressOverAMQPTLS: `kaasd install` declares the queue over amqps:// with the CA
// file, and kaasd's ingress consumes and answers over it (the machine's RabbitMQ behind a
// TLS proxy of the test's); with another CA, install is refused, saying why.
func TestIngressOverAMQPTLS(t *testing.T) {
	plain := vcdexttest.RequireBroker(t)
	ca, other := tlstest.NewCA(t, "kaas test CA"), tlstest.NewCA(t, "another CA")
	amqps := tlstest.AMQPS(t, plain, &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS}, MinVersion: tls.VersionTLS12})
	exchange, key := vcdexttest.UniqueNames(t)
	cfg := kaasd.Defaults()
	cfg.DataDir, cfg.AdminAddr, cfg.Roles = t.TempDir(), "", []string{kaasd.RoleIngress, kaasd.RoleProjector}
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = amqps, exchange, key

	cfg.AMQPTLS = vcdext.TLS{CAFile: other.CertFile}
	if _, err := kaasd.DeclareQueue(t.Context(), cfg); err == nil ||
		!strings.Contains(err.Error(), "declare the AMQP queue: connect to RabbitMQ: tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Fatalf("install with another CA: %v", err)
	}

	cfg.AMQPTLS = vcdext.TLS{CAFile: ca.CertFile}
	if q, err := kaasd.DeclareQueue(t.Context(), cfg); err != nil || q.Queue != key || q.QueueExisted {
		t.Fatalf("install: %+v, %v", q, err)
	}
	s, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	vcd, err := vcdexttest.NewClient(t.Context(), plain, exchange, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vcd.Close() })
	resp, err := vcd.Do(t.Context(), vcdexttest.Req{Method: http.MethodGet, Path: "/api/cse/3.0/clusters", RequestID: "req-amqps",
		Headers: map[string]string{"Accept": "application/json;version=36.0"}, Caller: vcdexttest.DefaultCaller()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.RequestID != "req-amqps" {
		t.Fatalf("reply %d %q: %s", resp.StatusCode, resp.RequestID, resp.Body)
	}
}

// TestRedactedSecrets: the configuration a provider reads (GET /api/cse/system/config)
// shows no password, neither of a setting nor in a URL (each of a NATS cluster's), and says
// what TLS kaasd uses.
func TestRedactedSecrets(t *testing.T) {
	cfg := kaasd.Defaults()
	cfg.NATSURL = "nats://kaas:pw-one@n1:4222,nats://kaas:pw-one@n2:4222"
	cfg.AMQPURL = "amqps://kaas:pw-two@rabbit:5671/"
	cfg.NATSUser, cfg.NATSPassword, cfg.VCDPassword = "kaas", "pw-three", "pw-four"
	cfg.NATSCAFile, cfg.AMQPTLS = "/etc/kaas/nats-ca.pem", vcdext.TLS{CAFile: "/etc/kaas/amqp-ca.pem", ServerName: "rabbit"}
	r := cfg.Redacted()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "pw-") {
		t.Errorf("a password shows: %s", b)
	}
	if r["nats_url"] != "nats://kaas:xxxxx@n1:4222,nats://kaas:xxxxx@n2:4222" || r["amqp_url"] != "amqps://kaas:xxxxx@rabbit:5671/" ||
		r["nats_tls"] != true || r["nats_user"] != "kaas" || r["amqp_ca"] != true || r["amqp_server_name"] != "rabbit" || r["amqp_client_cert"] != false {
		t.Errorf("redacted: %s", b)
	}
}
