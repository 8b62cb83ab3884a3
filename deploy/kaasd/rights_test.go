package kaasd_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// VCD relays a caller's rights by URN only, and only the rights its org was given: a
// tenant can do nothing before `kaasd install` registered CSE's types and published their
// rights bundle to its org. kaasd, started before the install, learns the URNs after it,
// in the background, and then authorises each caller exactly as its rights say. Installing
// again changes nothing.
func TestRightsLearnedAfterInstall(t *testing.T) {
	sys := kaasdtest.StartBare(t, kaasdtest.FastSim())
	cfg := sys.Config
	if _, err := kaasd.Install(t.Context(), cfg.VCDConfig(nil), kaasd.DefaultExtension(cfg.AMQPExchange, cfg.AMQPRoutingKey)); err != nil {
		t.Fatal(err)
	}
	srv, err := kaasd.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))
	alice, bob := sys.Login(t, "alice@acme", "alice-pass"), sys.Login(t, "bob@acme", "bob-pass")
	create := func(token, name string) (int, []byte) {
		code, body, _ := sys.Call(t, token, "", http.MethodPost, "/api/cse/3.0/clusters", entity(name, good, 1, true))
		return code, body
	}
	visible := func(token string) int {
		code, body, _ := sys.Call(t, token, "", http.MethodGet, "/api/cse/3.0/clusters", nil)
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		return len(decode[[]cse.DefEntity](t, body))
	}

	// No cse:nativeCluster type, hence no such right: alice's Full Access does not exist yet.
	if code, body := create(alice, "before"); code != http.StatusForbidden {
		t.Fatalf("create before install: %d %s", code, body)
	}
	rep, err := kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "none")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Changed() || len(rep.Rights) != 5 || len(rep.Published) != 0 {
		t.Fatalf("install: %+v", rep)
	}
	// The rights exist, but acme was not given them.
	if code, body := create(alice, "unpublished"); code != http.StatusForbidden {
		t.Fatalf("create before the bundle is published to acme: %d %s", code, body)
	}
	if rep, err = kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "acme"); err != nil || !slices.Equal(rep.Published, []string{"acme"}) {
		t.Fatalf("publish to acme: %+v %v", rep, err)
	}
	// VCD grants them to alice's next calls a moment later.
	kaasdtest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		switch code, body := create(alice, "after"); code {
		case http.StatusAccepted:
			return nil
		case http.StatusForbidden:
			return fmt.Errorf("create once acme has the rights: %d %s", code, body)
		default:
			t.Fatalf("create once acme has the rights: %d %s", code, body)
			return nil
		}
	})
	// bob holds View only: he may not create, and sees none of alice's clusters.
	if code, body := create(bob, "bobs"); code != http.StatusForbidden {
		t.Errorf("bob's create: %d %s", code, body)
	}
	if n := visible(bob); n != 0 {
		t.Errorf("bob sees %d clusters", n)
	}
	if n := visible(alice); n != 1 {
		t.Errorf("alice sees %d clusters, want hers", n)
	}

	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(scrape), "\nkaas_vcd_rights_known 5\n") {
		t.Errorf("kaas_vcd_rights_known is not 5:\n%s", grepLines(string(scrape), "kaas_vcd_rights_known"))
	}

	if rep, err = kaasd.InstallRDE(t.Context(), cfg.VCDConfig(nil), "all"); err != nil || rep.Changed() ||
		!slices.Equal(rep.AlreadyPublished, []string{"acme"}) {
		t.Errorf("installing again: %+v %v", rep, err)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
