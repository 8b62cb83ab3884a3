package kaasd_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/natstest"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

// A kubeconfig sealed by one kaasd is read through another on the same NATS with the same
// key file, before and after a key rotation; an instance that lacks the key a secret was
// sealed with answers 500, not "not found", and logs why. Each instance runs alone in turn,
// so that the one VCD relays to is the one under test.
func TestSecretsAcrossInstances(t *testing.T) {
	srv := natstest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "kaas.keys")
	k1, k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	writeKeys := func(keys ...string) {
		t.Helper()
		if err := os.WriteFile(keyFile, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKeys(k1)
	sys := kaasdtest.StartSim(t, kaasdtest.FastSim(), func(c *kaasd.Config) {
		c.NATSURL, c.SecretsKeyFile = srv.ClientURL(), keyFile
	})
	if _, err := kaasd.Install(t.Context(), sys.Config.VCDConfig(nil), kaasd.DefaultExtension(sys.Config.AMQPExchange, sys.Config.AMQPRoutingKey)); err != nil {
		t.Fatal(err)
	}
	// run starts an instance with its own data dir and the roles, and returns its stop.
	run := func(log *slog.Logger, roles ...string) func() {
		t.Helper()
		cfg := sys.Config
		cfg.DataDir, cfg.Roles = t.TempDir(), roles
		s, err := kaasd.Start(t.Context(), cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				_ = s.Close()
			}
		}
		t.Cleanup(stop)
		return stop
	}
	quiet := slog.New(slog.DiscardHandler)
	token := ""
	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		code, b, _ := sys.Call(t, token, "", method, path, body)
		return code, b
	}
	// create makes a cluster on an instance with every role but the mirror, then stops it.
	create := func(name string) string {
		t.Helper()
		stop := run(quiet, kaasd.RoleIngress, kaasd.RoleExecutor, kaasd.RoleProjector)
		defer stop()
		if token == "" {
			kaasdtest.EnableVDCs(t, sys.AsProvider(t))
			token = sys.Login(t, "alice@acme", "alice-pass")
		}
		code, body := call("POST", "/api/cse/3.0/clusters", entity(name, good, 1, true))
		if code != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
		id := decode[cse.DefEntity](t, body).ID
		kaasdtest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
			code, body := call("GET", "/api/cse/3.0/cluster/"+id, nil)
			if phase := decode[cse.DefEntity](t, body).Entity.Status.Phase; code != 200 || phase != "CREATE:SUCCEEDED" {
				return fmt.Errorf("cluster %s: %d %s", name, code, phase)
			}
			return nil
		})
		return id
	}
	// kubeconfig reads a cluster's kubeconfig through a reader (ingress and projector only)
	// started on the key file as it is, once its views have the cluster.
	kubeconfig := func(log *slog.Logger, ids ...string) (codes []int, bodies []string) {
		t.Helper()
		stop := run(log, kaasd.RoleIngress, kaasd.RoleProjector)
		defer stop()
		for _, id := range ids {
			var code int
			var body []byte
			kaasdtest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				if code, body = call("GET", "/api/cse/3.0/cluster/"+id+"/config", nil); code == http.StatusNotFound {
					return fmt.Errorf("cluster %s not in the reader's views yet", id)
				}
				return nil
			})
			codes, bodies = append(codes, code), append(bodies, string(body))
		}
		return codes, bodies
	}
	wantKubeconfigs := func(ids ...string) {
		t.Helper()
		codes, bodies := kubeconfig(quiet, ids...)
		for i := range ids {
			if kc := decode[map[string]string](t, []byte(bodies[i]))["message"]; codes[i] != 200 || !strings.Contains(kc, "server: https://") {
				t.Fatalf("kubeconfig %d through another instance: %d %.200s", i+1, codes[i], bodies[i])
			}
		}
	}

	one := create("one")
	wantKubeconfigs(one)

	// Rotation: the new key seals, the old one still opens.
	writeKeys(k2, k1)
	two := create("two")
	wantKubeconfigs(one, two)

	// An instance with the old key only cannot open what the new key sealed, and says so.
	writeKeys(k1)
	var log bytes.Buffer
	codes, bodies := kubeconfig(slog.New(slog.NewTextHandler(&log, nil)), two)
	if codes[0] != http.StatusInternalServerError || !strings.Contains(bodies[0], "could not be read") {
		t.Fatalf("a kubeconfig sealed with a key this instance lacks: %d %s", codes[0], bodies[0])
	}
	if !strings.Contains(log.String(), "sealed with another key") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}
}

// A change one instance answered 202 for shows at once in another's answers: instances on
// the same streams read at the command stream's end, not only after their own commands.
func TestReadOnAnotherInstanceAfterA202(t *testing.T) {
	srv := natstest.Start(t)
	a := startWith(t, func(c *kaasd.Config) { c.NATSURL = srv.ClientURL() })
	cfg := a.cfg
	cfg.DataDir, cfg.Roles = t.TempDir(), []string{kaasd.RoleIngress, kaasd.RoleProjector}
	cfg.AMQPExchange, cfg.AMQPRoutingKey = vcdexttest.UniqueNames(t)
	s, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	client, err := vcdexttest.NewClient(t.Context(), cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	b := &env{t: t, srv: s, sim: a.sim, client: client, cfg: cfg}
	for i := range 30 {
		name := fmt.Sprintf("twin-%d", i)
		code, body := a.do("POST", "/api/cse/3.0/clusters", entity(name, good, 1, true))
		if code != http.StatusAccepted {
			t.Fatalf("create %s on one instance: %d %s", name, code, body)
		}
		id := decode[cse.DefEntity](t, body).ID
		if code, body := b.do("GET", "/api/cse/3.0/cluster/"+id, nil); code != http.StatusOK {
			t.Fatalf("%s right after its 202, on the other instance: %d %s", name, code, body)
		}
		if code, body := b.do("POST", "/api/cse/3.0/clusters", entity(name, good, 1, true)); code != http.StatusBadRequest ||
			!strings.Contains(string(body), "already") {
			t.Fatalf("%s again on the other instance: %d %s", name, code, body)
		}
	}
}

// Two instances racing to create the same name in one org VDC, each answering its own
// queue, yield one cluster and one refusal, every time: each instance's views may not show
// the other's create yet, and the claim on the name decides.
func TestNamesUniqueAcrossInstances(t *testing.T) {
	srv := natstest.Start(t)
	sys := kaasdtest.StartSim(t, testCloud(), func(c *kaasd.Config) { c.NATSURL = srv.ClientURL() })
	ctx := t.Context()
	var clients []*vcdexttest.Client
	// The first also runs the executor, which reads VCD's org VDCs.
	for i, suffix := range []string{"-a", "-b"} {
		cfg := sys.Config
		cfg.DataDir, cfg.Roles = t.TempDir(), []string{kaasd.RoleIngress, kaasd.RoleProjector}
		if i == 0 {
			cfg.Roles = append(cfg.Roles, kaasd.RoleExecutor)
		}
		cfg.AMQPRoutingKey, cfg.AMQPQueue = cfg.AMQPRoutingKey+suffix, cfg.AMQPRoutingKey+suffix
		cfg.TaskWait = -1 // no mirror makes VCD tasks: answer with kaas's operation at once
		s, err := kaasd.Start(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		c, err := vcdexttest.NewClient(ctx, cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients = append(clients, c)
	}
	kaasdtest.EnableVDCs(t, providerDo(t, clients[0]))

	const rounds = 20
	for i := range rounds {
		name := fmt.Sprintf("race-%02d", i)
		body, _ := json.Marshal(entity(name, good, 1, true))
		var calls []*vcdexttest.Call
		for _, c := range clients {
			call, err := c.Publish(ctx, vcdexttest.Req{Method: "POST", Path: "/api/cse/3.0/clusters", Body: body})
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, call)
		}
		codes := map[int]int{}
		for _, call := range calls {
			resp, err := call.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusBadRequest && !strings.Contains(string(resp.Body), "already exists") {
				t.Fatalf("%s refused for another reason: %s", name, resp.Body)
			}
		}
		if codes[http.StatusAccepted] != 1 || codes[http.StatusBadRequest] != 1 {
			t.Fatalf("round %d: answers %v, want one 202 and one 400", i, codes)
		}
	}
	// Both instances list each name once.
	for i, c := range clients {
		resp, err := c.Do(ctx, vcdexttest.Req{Path: "/api/cse/3.0/clusters"})
		if err != nil {
			t.Fatal(err)
		}
		var list []cse.DefEntity
		_ = json.Unmarshal(resp.Body, &list)
		names := map[string]int{}
		for _, e := range list {
			names[e.Name]++
		}
		if len(list) != rounds || len(names) != rounds {
			t.Fatalf("instance %d lists %d clusters with %d names, want %d", i, len(list), len(names), rounds)
		}
	}
}
