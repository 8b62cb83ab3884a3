package kaasd_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/events/cse"
)

// tenantKey is an SSH public key (from a fixed seed; not a secret).
const tenantKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdtjf9EcNxSlHq3C5k71f4WnUh67+tSuF2IAG7ZiLNO tenant@acme"

// hostile is a create request edited at a path of its JSON object.
func hostile(name string, edit func(spec map[string]any)) map[string]any {
	m := entity(name, good, 0, true)
	edit(m["spec"].(map[string]any))
	return m
}

func sub(m map[string]any, key string) map[string]any {
	if next, ok := m[key].(map[string]any); ok {
		return next
	}
	next := map[string]any{}
	m[key] = next
	return next
}

// refused checks that VCD answered a tenant's request with CSE's 400 naming the field.
func refused(t *testing.T, code int, body []byte, minor int, text string) {
	t.Helper()
	var e cse.Error
	if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Message.MinorErrorCode != minor ||
		!strings.Contains(e.Message.ErrorDescription, text) {
		t.Fatalf("got %d %s, want 400 with minor %d saying %q", code, body, minor, text)
	}
}

// The hostile creates, sent as a tenant sends them (HTTPS to VCD, AMQP to kaas), are
// each refused with CSE's 400 naming the field; the command stream does not grow and no vApp
// appears in VCD.
func TestHostileCreatesRefusedEndToEnd(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	baseCmds, baseEvts, err := e.srv.Store().LastSequences(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	settings := func(s map[string]any) map[string]any { return sub(s, "settings") }
	tests := []struct {
		name  string
		body  map[string]any
		minor int
		text  string
	}{
		{"ssh key with runcmd", hostile("h1", func(s map[string]any) { settings(s)["sshKey"] = tenantKey + "\nruncmd:\n - touch /x" }),
			cse.MinorDefault, "spec.settings.sshKey: "},
		{"pods with a command", hostile("h2", func(s map[string]any) {
			sub(sub(settings(s), "network"), "pods")["cidrBlocks"] = []string{"10.0.0.0/16; touch /x #"}
		}), cse.MinorDefault, "spec.settings.network.pods.cidrBlocks[0]: "},
		{"services with a substitution", hostile("h3", func(s map[string]any) {
			sub(sub(settings(s), "network"), "services")["cidrBlocks"] = []string{"$(touch /x)"}
		}), cse.MinorDefault, "spec.settings.network.services.cidrBlocks[0]: "},
		{"control plane cpu -1", hostile("h4", func(s map[string]any) { sub(sub(s, "topology"), "controlPlane")["cpu"] = -1 }),
			cse.MinorDefault, "spec.topology.controlPlane.cpu: "},
		{"control plane memory 2^40", hostile("h5", func(s map[string]any) { sub(sub(s, "topology"), "controlPlane")["memory"] = 1 << 40 }),
			cse.MinorDefault, "spec.topology.controlPlane.memory: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.call("POST", "/api/cse/3.0/clusters", tt.body)
			refused(t, code, body, tt.minor, tt.text)
		})
	}
	cmds, evts, err := e.srv.Store().LastSequences(t.Context())
	if err != nil || cmds != baseCmds || evts != baseEvts {
		t.Fatalf("hostile creates appended %d commands and %d events (%v)", cmds-baseCmds, evts-baseEvts, err)
	}
	if inv := e.sim.Inventory(); len(inv.VApps) != 0 {
		t.Fatalf("VCD has vApps: %+v", inv.VApps)
	}
	if code, body := e.call("GET", "/api/cse/3.0/clusters", nil); code != http.StatusOK || string(body) != "[]" {
		t.Fatalf("clusters after hostile creates: %d %s", code, body)
	}
}

// kaas reads the org VDC's networks from VCD (vcdsim's acme-net: gateway 10.1.0.1, netmask
// 255.255.0.0) and refuses a network the VDC lacks and blocks over the nodes' subnet; a
// create clear of it runs to its end.
func TestCreateChecksVCDNetwork(t *testing.T) {
	e := startSimEnv(t, kaasdtest.FastSim())
	baseCmds, _, err := e.srv.Store().LastSequences(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	network := func(s map[string]any) map[string]any { return sub(sub(s, "settings"), "network") }
	code, body := e.call("POST", "/api/cse/3.0/clusters", hostile("n1", func(s map[string]any) { sub(s, "settings")["ovdcNetwork"] = "no-such-net" }))
	refused(t, code, body, cse.MinorNetworkNameInvalid, `spec.settings.ovdcNetwork: org VDC 'acme-vdc' has no network "no-such-net" (it has: "acme-net")`)
	code, body = e.call("POST", "/api/cse/3.0/clusters", hostile("n2", func(s map[string]any) {
		sub(network(s), "pods")["cidrBlocks"] = []string{"10.0.0.0/8"}
	}))
	refused(t, code, body, cse.MinorDefault, `spec.settings.network.pods.cidrBlocks[0]: the block 10.0.0.0/8 overlaps network "acme-net"'s subnet 10.1.0.0/16`)
	code, body = e.call("POST", "/api/cse/3.0/clusters", hostile("n3", func(s map[string]any) {
		sub(network(s), "services")["cidrBlocks"] = []string{"10.1.200.0/24"}
	}))
	refused(t, code, body, cse.MinorDefault, "spec.settings.network.services.cidrBlocks[0]: the block 10.1.200.0/24 overlaps")
	if cmds, _, err := e.srv.Store().LastSequences(t.Context()); err != nil || cmds != baseCmds {
		t.Fatalf("refused creates appended %d commands (%v)", cmds-baseCmds, err)
	}

	code, body = e.call("POST", "/api/cse/3.0/clusters", hostile("n4", func(s map[string]any) {
		sub(network(s), "pods")["cidrBlocks"] = []string{"10.244.0.0/16"}
		sub(network(s), "services")["cidrBlocks"] = []string{"10.96.0.0/12"}
		sub(s, "settings")["sshKey"] = tenantKey
	}))
	if code != http.StatusAccepted {
		t.Fatalf("a create clear of the nodes' subnet: %d %s", code, body)
	}
	ent := e.waitPhase(decode[cse.DefEntity](t, body).ID)
	if ent.Entity.Status.Phase != "CREATE:SUCCEEDED" {
		t.Fatalf("create ended %s: %+v", ent.Entity.Status.Phase, ent.Entity.Status.Kaas.Error)
	}
}
