package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
)

// aVCD is the environment of a kaasd on a VCD, which the executor and mirror roles need:
// TestParse's cases read it under their own env (a name a case sets, even to "", is the
// case's).
var aVCD = map[string]string{"KAAS_VCD_URL": "https://vcd.example.com/api", "KAAS_VCD_USER": "u", "KAAS_VCD_PASSWORD": "p"}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c kaasd.Config)
		wantErr string
	}{
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
