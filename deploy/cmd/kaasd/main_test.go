package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
	"github.com/kaasproject/kaas/internal/tlstest"
)

// aVCD is the environment of a kaasd on a VCD, which the executor and mirror roles need:
// TestParse's cases read it under their own env (a name a case sets, even to "", is the
// case's).
var aVCD = map[string]string{"KAAS_VCD_URL": "https://vcd.example.com/api", "KAAS_VCD_USER": "u", "KAAS_VCD_PASSWORD": "p"}

// parseCase is kaasd's arguments and environment, and what parse must make of them.
type parseCase struct {
	name    string
	args    []string
	env     map[string]string
	check   func(t *testing.T, c kaasd.Config)
	wantErr string
}

// runParseCases parses each case's arguments under its environment (aVCD's for what it
// does not set) and checks the configuration or the error.
func runParseCases(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, _, err := parse(tt.args, func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return aVCD[k]
			}, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestParse(t *testing.T) {
	tests := []parseCase{
		{name: "defaults", check: func(t *testing.T, c kaasd.Config) {
			if c.DataDir != "./data" || c.AMQPExchange != "cse-ext" || c.AMQPRoutingKey != "cse" || c.AdminAddr != "127.0.0.1:9090" ||
				c.AMQPPrefetch != 64 || c.NATSURL != "" || len(c.Roles) != 4 || c.PublishRights != "none" || c.RightsRefresh != 10*time.Minute {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "env", env: map[string]string{"KAAS_AMQP_EXCHANGE": "x", "KAAS_AMQP_PREFETCH": "8", "KAAS_POLL_INTERVAL": "50ms"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.AMQPExchange != "x" || c.AMQPPrefetch != 8 || c.PollInterval != 50*time.Millisecond {
					t.Errorf("env not read: %+v", c)
				}
			}},
		{name: "flag beats env", args: []string{"--amqp-exchange", "y"}, env: map[string]string{"KAAS_AMQP_EXCHANGE": "x"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.AMQPExchange != "y" {
					t.Errorf("flag lost: %+v", c)
				}
			}},
		{name: "bad number", env: map[string]string{"KAAS_AMQP_PREFETCH": "lots"}, wantErr: "KAAS_AMQP_PREFETCH"},
		{name: "sync before ack by default", check: func(t *testing.T, c kaasd.Config) {
			if c.NATSRelaxedSync != 0 {
				t.Errorf("relaxed sync by default: %s", c.NATSRelaxedSync)
			}
		}},
		{name: "relaxed sync", env: map[string]string{"KAAS_NATS_RELAXED_SYNC": "1m"}, check: func(t *testing.T, c kaasd.Config) {
			if c.NATSRelaxedSync != time.Minute {
				t.Errorf("relaxed sync: %s", c.NATSRelaxedSync)
			}
		}},
		{name: "relaxed sync of a standalone server", env: map[string]string{"KAAS_NATS_RELAXED_SYNC": "1m", "KAAS_NATS_URL": "nats://n:4222"},
			wantErr: "KAAS_NATS_RELAXED_SYNC only applies to the embedded server"},
		{name: "bad relaxed sync", env: map[string]string{"KAAS_NATS_RELAXED_SYNC": "soon"}, wantErr: "NATS relaxed sync"},
		{name: "bad role", args: []string{"--roles", "ingress,chef"}, wantErr: `unknown role "chef"`},
		{name: "vcd without credentials", env: map[string]string{"KAAS_VCD_URL": "https://vcd.example.com/api", "KAAS_VCD_USER": "", "KAAS_VCD_PASSWORD": ""},
			wantErr: "VCD credentials"},
		{name: "no vcd", env: map[string]string{"KAAS_VCD_URL": ""}, wantErr: "KAAS_VCD_URL is required by the roles executor,mirror: set it"},
		{name: "no vcd for an executor", args: []string{"--roles", "executor"}, env: map[string]string{"KAAS_VCD_URL": ""},
			wantErr: "KAAS_VCD_URL is required by the roles executor: set it"},
		{name: "no vcd for the ingress and the projector", args: []string{"--roles", "ingress,projector"}, env: map[string]string{"KAAS_VCD_URL": ""},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDURL != "" || len(c.Roles) != 2 {
					t.Errorf("ingress and projector without VCD: %+v", c)
				}
			}},
		{name: "vcd url without /api", env: map[string]string{"KAAS_VCD_URL": "https://vcd.example.com", "KAAS_VCD_USER": "u", "KAAS_VCD_PASSWORD": "p"},
			wantErr: "must end in /api"},
		{name: "vcd", env: map[string]string{"KAAS_VCD_URL": "https://vcd.example.com/api", "KAAS_VCD_USER": "u", "KAAS_VCD_PASSWORD": "p", "KAAS_VCD_INSECURE": "true"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDPassword != "p" || !c.VCDInsecure || c.VCDUser != "u" {
					t.Errorf("vcd settings: %+v", c)
				}
			}},
		{name: "bad duration", env: map[string]string{"KAAS_POLL_INTERVAL": "soon"}, wantErr: "poll interval"},
		{name: "mirror", env: map[string]string{"KAAS_VCD_URL": "https://vcd.internal/api", "KAAS_VCD_USER": "u", "KAAS_VCD_PASSWORD": "p",
			"KAAS_VCD_PUBLIC_URL": "https://vcd.example.com", "KAAS_MIRROR_RESYNC": "1m", "KAAS_MIRROR_WORKERS": "2", "KAAS_TASK_WAIT": "2s"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDPublicURL != "https://vcd.example.com" || c.MirrorResync != time.Minute || c.MirrorWorkers != 2 || c.TaskWait != 2*time.Second {
					t.Errorf("mirror settings: %+v", c)
				}
			}},
		{name: "mirror without projector", args: []string{"--roles", "mirror"}, wantErr: "run both roles in one process"},
		{name: "rights by URN", env: map[string]string{"KAAS_RIGHT_IDS": "urn:vcloud:right:1=cse:nativeCluster: Full Access; urn:vcloud:right:2=cse:nativeCluster: View",
			"KAAS_PROVIDER_ORG": "urn:vcloud:org:0000", "KAAS_CLOUD_SYNC_INTERVAL": "1h"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.RightIDs["urn:vcloud:right:1"] != "cse:nativeCluster: Full Access" || len(c.RightIDs) != 2 ||
					c.ProviderOrg != "urn:vcloud:org:0000" || c.CloudSyncInterval != time.Hour {
					t.Errorf("rights, provider org, sync: %+v", c)
				}
			}},
		{name: "rights learning and publishing", env: map[string]string{"KAAS_PUBLISH_RIGHTS": "acme,beta", "KAAS_RIGHTS_REFRESH": "1m"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.PublishRights != "acme,beta" || c.RightsRefresh != time.Minute {
					t.Errorf("publish rights, rights refresh: %+v", c)
				}
			}},
		{name: "publish flag", args: []string{"--publish-rights", "all"}, check: func(t *testing.T, c kaasd.Config) {
			if c.PublishRights != "all" {
				t.Errorf("publish rights %q", c.PublishRights)
			}
		}},
		{name: "bad publish rights", args: []string{"--publish-rights", "acme,all"}, wantErr: "KAAS_PUBLISH_RIGHTS"},
		{name: "bad rights refresh", env: map[string]string{"KAAS_RIGHTS_REFRESH": "often"}, wantErr: "rights refresh"},
		{name: "bad right ids", env: map[string]string{"KAAS_RIGHT_IDS": "Full Access"}, wantErr: "KAAS_RIGHT_IDS"},
		{name: "stray arg", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
	}
	runParseCases(t, tests)
}

func TestRunUsageErrorsExit2(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--roles", "nope"}, func(string) string { return "" }, &out, &errb); code != 2 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "kaasd ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

func TestCallWithoutKaasdSaysWhy(t *testing.T) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code := run(ctx, []string{"call", "-timeout", "300ms", "-amqp-exchange", "kaas-nobody-home", "/api/cse/3.0/clusters"},
		func(string) string { return "" }, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "kaas-nobody-home") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// TestSecretFiles: every secret variable may name a file instead (<VAR>_FILE), read with its
// trailing newline trimmed; both at once, an unreadable file and an empty one are refused,
// naming the variable and the file.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []parseCase{
		{name: "VCD password", env: map[string]string{"KAAS_VCD_PASSWORD": "", "KAAS_VCD_PASSWORD_FILE": file("vcd-password", "s3cret\n")},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDPassword != "s3cret" {
					t.Errorf("VCD password %q", c.VCDPassword)
				}
			}},
		{name: "VCD token, CRLF", env: map[string]string{"KAAS_VCD_PASSWORD": "", "KAAS_VCD_TOKEN_FILE": file("vcd-token", "tok en\r\n\r\n")},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDToken != "tok en" || c.VCDPassword != "" {
					t.Errorf("VCD token %q, password %q", c.VCDToken, c.VCDPassword)
				}
			}},
		{name: "AMQP URL", env: map[string]string{"KAAS_AMQP_URL_FILE": file("amqp-url", "amqp://kaas:pw@rabbit:5672/vcd\n")},
			check: func(t *testing.T, c kaasd.Config) {
				if c.AMQPURL != "amqp://kaas:pw@rabbit:5672/vcd" {
					t.Errorf("AMQP URL %q", c.AMQPURL)
				}
			}},
		{name: "NATS URL and password", env: map[string]string{"KAAS_NATS_URL_FILE": file("nats-url", "nats://n1:4222,nats://n2:4222"),
			"KAAS_NATS_USER": "kaas", "KAAS_NATS_PASSWORD_FILE": file("nats-password", "npw\n")},
			check: func(t *testing.T, c kaasd.Config) {
				if c.NATSURL != "nats://n1:4222,nats://n2:4222" || c.NATSUser != "kaas" || c.NATSPassword != "npw" {
					t.Errorf("NATS URL %q, user %q, password %q", c.NATSURL, c.NATSUser, c.NATSPassword)
				}
			}},
		{name: "a secret file keeps inner spaces", env: map[string]string{"KAAS_VCD_PASSWORD": "", "KAAS_VCD_PASSWORD_FILE": file("spaced", " a b \n")},
			check: func(t *testing.T, c kaasd.Config) {
				if c.VCDPassword != " a b " {
					t.Errorf("VCD password %q", c.VCDPassword)
				}
			}},
		{name: "both", env: map[string]string{"KAAS_VCD_PASSWORD": "p", "KAAS_VCD_PASSWORD_FILE": file("both", "p2")},
			wantErr: "KAAS_VCD_PASSWORD and KAAS_VCD_PASSWORD_FILE are both set: set one of them"},
		{name: "missing file", env: map[string]string{"KAAS_VCD_PASSWORD": "", "KAAS_VCD_PASSWORD_FILE": filepath.Join(dir, "nope")},
			wantErr: "KAAS_VCD_PASSWORD_FILE: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{name: "a directory", env: map[string]string{"KAAS_AMQP_URL_FILE": dir}, wantErr: "KAAS_AMQP_URL_FILE: read " + dir},
		{name: "empty file", env: map[string]string{"KAAS_NATS_PASSWORD_FILE": file("empty", "\n")},
			wantErr: "KAAS_NATS_PASSWORD_FILE: " + filepath.Join(dir, "empty") + " is empty"},
		{name: "every problem at once", env: map[string]string{"KAAS_VCD_TOKEN": "t", "KAAS_VCD_TOKEN_FILE": file("t", "t"),
			"KAAS_NATS_URL_FILE": filepath.Join(dir, "nope")}, wantErr: "KAAS_VCD_TOKEN and KAAS_VCD_TOKEN_FILE are both set: set one of them\nKAAS_NATS_URL_FILE: open"},
	}
	runParseCases(t, tests)
}

// TestUsageHidesPasswords: a usage error prints every flag's default, into the service's
// log; the URLs' passwords are not in it.
func TestUsageHidesPasswords(t *testing.T) {
	p := filepath.Join(t.TempDir(), "amqp-url")
	if err := os.WriteFile(p, []byte("amqp://kaas:hunter2@rabbit:5672/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KAAS_AMQP_URL_FILE": p, "KAAS_NATS_URL": "nats://kaas:hunter3@n1:4222,nats://kaas:hunter3@n2:4222"}
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--no-such-flag"}, func(k string) string { return env[k] }, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "amqp://kaas:xxxxx@rabbit:5672/") || !strings.Contains(errb.String(), "nats://kaas:xxxxx@n2:4222") {
		t.Fatalf("exit %d, usage without the redacted URLs:\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), "hunter") {
		t.Errorf("usage shows a password:\n%s", errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"call", "--no-such-flag"}, func(k string) string { return env[k] }, &out, &errb); code != 2 ||
		strings.Contains(errb.String(), "hunter") || !strings.Contains(errb.String(), "kaas:xxxxx@rabbit") {
		t.Errorf("kaasd call: exit %d, usage:\n%s", code, errb.String())
	}
}

// TestParseTLS: the NATS and AMQP TLS and credential settings, and what is refused.
func TestParseTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "kaas test CA")
	cl := ca.Client(t, "kaasd")
	creds := filepath.Join(t.TempDir(), "kaasd.creds")
	tests := []parseCase{
		{name: "NATS over mutual TLS as a user", env: map[string]string{"KAAS_NATS_URL": "tls://n1:4222,tls://n2:4222", "KAAS_NATS_CA_FILE": ca.CertFile,
			"KAAS_NATS_CERT_FILE": cl.CertFile, "KAAS_NATS_KEY_FILE": cl.KeyFile, "KAAS_NATS_USER": "kaas", "KAAS_NATS_PASSWORD": "pw", "KAAS_REPLICAS": "3"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.NATSCAFile != ca.CertFile || c.NATSCertFile != cl.CertFile || c.NATSKeyFile != cl.KeyFile || c.NATSUser != "kaas" ||
					c.NATSPassword != "pw" || c.Replicas != 3 {
					t.Errorf("NATS settings: %+v", c)
				}
			}},
		{name: "NATS creds", args: []string{"--nats-url", "nats://n1:4222", "--nats-creds-file", creds}, check: func(t *testing.T, c kaasd.Config) {
			if c.NATSCredsFile != creds {
				t.Errorf("creds %q", c.NATSCredsFile)
			}
		}},
		{name: "NATS TLS of the embedded server", env: map[string]string{"KAAS_NATS_CA_FILE": ca.CertFile},
			wantErr: "KAAS_NATS_CA_FILE only applies to a standalone server (KAAS_NATS_URL)"},
		{name: "NATS certificate without key", env: map[string]string{"KAAS_NATS_URL": "tls://n1:4222", "KAAS_NATS_CERT_FILE": cl.CertFile},
			wantErr: "KAAS_NATS_CERT_FILE and KAAS_NATS_KEY_FILE: set both or neither"},
		{name: "NATS creds and user", env: map[string]string{"KAAS_NATS_URL": "nats://n1:4222", "KAAS_NATS_CREDS_FILE": creds, "KAAS_NATS_USER": "u", "KAAS_NATS_PASSWORD": "p"},
			wantErr: "KAAS_NATS_CREDS_FILE and KAAS_NATS_USER both say who kaasd is: set one"},
		{name: "NATS user without password", env: map[string]string{"KAAS_NATS_URL": "nats://n1:4222", "KAAS_NATS_USER": "u"},
			wantErr: "KAAS_NATS_USER and KAAS_NATS_PASSWORD: set both or neither"},
		{name: "amqps with a CA and a client certificate", env: map[string]string{"KAAS_AMQP_URL": "amqps://kaas:pw@rabbit.example.com:5671/",
			"KAAS_AMQP_CA_FILE": ca.CertFile, "KAAS_AMQP_CERT_FILE": cl.CertFile, "KAAS_AMQP_KEY_FILE": cl.KeyFile, "KAAS_AMQP_SERVER_NAME": "rabbit"},
			check: func(t *testing.T, c kaasd.Config) {
				if c.AMQPTLS.CAFile != ca.CertFile || c.AMQPTLS.CertFile != cl.CertFile || c.AMQPTLS.KeyFile != cl.KeyFile || c.AMQPTLS.ServerName != "rabbit" {
					t.Errorf("AMQP TLS: %+v", c.AMQPTLS)
				}
			}},
		{name: "AMQP CA file missing", env: map[string]string{"KAAS_AMQP_URL": "amqps://rabbit:5671/", "KAAS_AMQP_CA_FILE": "/etc/kaas/nope.pem"},
			wantErr: "KAAS_AMQP_*: vcdext config: TLS CA file: open /etc/kaas/nope.pem: no such file or directory"},
		{name: "AMQP TLS for amqp://", env: map[string]string{"KAAS_AMQP_CA_FILE": ca.CertFile}, wantErr: "make the URL amqps://"},
		{name: "AMQP key of another certificate", env: map[string]string{"KAAS_AMQP_URL": "amqps://rabbit:5671/", "KAAS_AMQP_CERT_FILE": cl.CertFile,
			"KAAS_AMQP_KEY_FILE": ca.Server(t).KeyFile}, wantErr: "private key does not match public key"},
	}
	runParseCases(t, tests)
}

// TestCallOverTLS: `kaasd call` reaches an amqps:// broker with the CA file kaasd uses
// (the broker itself then says that no kaasd declared the exchange), and says why when it
// does not trust the broker.
func TestCallOverTLS(t *testing.T) {
	plain := vcdexttest.RequireBroker(t)
	ca, other := tlstest.NewCA(t, "kaas test CA"), tlstest.NewCA(t, "another CA")
	amqps := tlstest.AMQPS(t, plain, &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS}, MinVersion: tls.VersionTLS12})
	tests := []struct {
		name, caFile string
		want         string
	}{
		{name: "the broker's CA", caFile: ca.CertFile, want: `no reply: vcdextclient: publish: channel closed: Exception (404) Reason: "NOT_FOUND - no exchange 'kaas-nobody-home'`},
		{name: "another CA", caFile: other.CertFile, want: "cannot reach RabbitMQ: vcdextclient: dial: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"KAAS_AMQP_URL": amqps, "KAAS_AMQP_CA_FILE": tt.caFile}
			var out, errb bytes.Buffer
			code := run(t.Context(), []string{"call", "-timeout", "500ms", "-amqp-exchange", "kaas-nobody-home", "/api/cse/3.0/clusters"},
				func(k string) string { return env[k] }, &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("exit %d: %s, want %q", code, errb.String(), tt.want)
			}
		})
	}
}
