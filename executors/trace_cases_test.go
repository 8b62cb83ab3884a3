package executors_test

import (
	"testing"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdmem"
)

// The scenarios of the golden traces in testdata/traces: each operation as it goes, with a
// retryable VCD error on one of its steps, and with a failure that ends it (rolled back
// where the operation rolls back).

const (
	next    = "ubuntu-22.04_k8s-1.30_antrea-1.15"
	broken  = "ubuntu-22.04_k8s-1.30_broken"
	older   = "ubuntu-22.04_k8s-1.28_antrea-1.13"
	hangs   = "hangs"
	missing = "no-such-template"
)

// traceCloud is the fast in-memory cloud, with a template older than the clusters' (an
// upgrade to it goes backwards) and one whose bootstrap never finishes.
func traceCloud(change ...func(*vcdmem.Config)) vcdmem.Config {
	c := fastCloud()
	c.Orgs[0].Templates = append(c.Orgs[0].Templates,
		vcdmem.Template{Template: events.Template{Name: older, Revision: 1, KubernetesVersion: "v1.28.13", OS: "ubuntu-22.04"}},
		vcdmem.Template{Template: events.Template{Name: hangs, Revision: 1, KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04"}, FailAt: "never"})
	for _, f := range change {
		f(&c)
	}
	return c
}

func quota(vms int) func(*vcdmem.Config) {
	return func(c *vcdmem.Config) { c.Orgs[0].VDCs[0].MaxVMs = vms }
}

func attempts(n int) executors.Config {
	c := fastConfig()
	c.MaxAttempts = n
	return c
}

// clusterScenario traces commands on a cluster named name, after the setup commands.
func clusterScenario(name string, cloud vcdmem.Config, cfg executors.Config, faults []*fault, setup []events.Payload, cmds ...events.Payload) scenario {
	return scenario{name: name, run: func(t *testing.T) *tracer {
		tr := newTracer(t, cloud, cfg, events.DeriveID("cluster", "c1"), false, faults...)
		tr.setup(setup...)
		for _, c := range cmds {
			tr.run(c)
		}
		return tr
	}}
}

// nodeName is the name of the cluster c1's node.
func nodeName(role string, ordinal int) string {
	return cluster.NodeName(events.DeriveID("cluster", "c1"), role, ordinal)
}

func create(template string, workers int, rollback bool) events.CreateCluster {
	return events.CreateCluster{Spec: spec("c1", template, workers, rollback)}
}

func upgrade(to string) events.UpgradeTemplate {
	return events.UpgradeTemplate{Template: events.TemplateRef{Name: to, Revision: 1}}
}

func TestTracesCreate(t *testing.T) {
	golden(t, "create", "CreateCluster: one control plane, then the workers, each started as soon as it exists.", []scenario{
		clusterScenario("one control plane, two workers", traceCloud(), fastConfig(), nil, nil, create(good, 2, true)),
		clusterScenario("retryable: node-0's first power-on finds VCD busy", traceCloud(), fastConfig(),
			[]*fault{{op: "PowerOn", name: nodeName(events.RoleWorker, 0), times: 1, err: busy("power on")}}, nil,
			create(good, 2, true)),
		clusterScenario("retryable: reading the control plane's guestinfo fails twice", traceCloud(), fastConfig(),
			[]*fault{{op: "GuestInfo", name: nodeName(events.RoleControlPlane, 0), times: 2, err: busy("get VM")}}, nil,
			create(good, 1, true)),
		clusterScenario("terminal, no rollback asked: the control plane's bootstrap fails", traceCloud(), fastConfig(), nil, nil,
			create(broken, 2, false)),
		clusterScenario("retries run out: composing the vApp is always busy, no rollback asked", traceCloud(), attempts(3),
			[]*fault{{op: "EnsureVApp", err: busy("compose vApp")}}, nil, create(good, 1, false)),
	})
}

func TestTracesRollback(t *testing.T) {
	golden(t, "rollback", "A failed CreateCluster with rollbackOnFailure: the vApp is deleted (looked for even when none was recorded),\n# then OperationRolledBack.", []scenario{
		clusterScenario("the control plane's bootstrap fails", traceCloud(), fastConfig(), nil, nil, create(broken, 2, true)),
		clusterScenario("the VDC's quota refuses the second worker", traceCloud(quota(2)), fastConfig(), nil, nil, create(good, 2, true)),
		clusterScenario("retries run out composing the vApp", traceCloud(), attempts(3),
			[]*fault{{op: "EnsureVApp", err: busy("compose vApp")}}, nil, create(good, 1, true)),
		clusterScenario("retryable: the rollback's vApp delete finds VCD busy once", traceCloud(), fastConfig(),
			[]*fault{{op: "DeleteVApp", times: 1, err: busy("delete vApp")}}, nil, create(broken, 1, true)),
		clusterScenario("the rollback fails: deleting the vApp is always busy", traceCloud(), attempts(3),
			[]*fault{{op: "DeleteVApp", err: busy("delete vApp")}}, nil, create(broken, 1, true)),
	})
}

func TestTracesScale(t *testing.T) {
	golden(t, "scale", "ScaleWorkers: up (new workers made, started, awaited) and down (the newest workers deleted first).\n# The setup (the cluster's create) is left out.", []scenario{
		clusterScenario("up 1 → 3", traceCloud(), fastConfig(), nil, []events.Payload{create(good, 1, true)}, events.ScaleWorkers{Workers: 3}),
		clusterScenario("down 3 → 1", traceCloud(), fastConfig(), nil, []events.Payload{create(good, 3, true)}, events.ScaleWorkers{Workers: 1}),
		clusterScenario("up, retryable: making node-1 finds VCD busy once", traceCloud(), fastConfig(),
			[]*fault{{op: "EnsureVM", name: nodeName(events.RoleWorker, 1), times: 1, err: busy("recompose vApp")}},
			[]events.Payload{create(good, 1, true)}, events.ScaleWorkers{Workers: 2}),
		clusterScenario("down, retryable: deleting node-2 finds VCD busy once", traceCloud(), fastConfig(),
			[]*fault{{op: "DeleteVM", name: nodeName(events.RoleWorker, 2), times: 1, err: busy("delete VM")}},
			[]events.Payload{create(good, 3, true)}, events.ScaleWorkers{Workers: 1}),
		clusterScenario("up, terminal, rolled back: the quota refuses node-2", traceCloud(quota(3)), fastConfig(), nil,
			[]events.Payload{create(good, 1, true)}, events.ScaleWorkers{Workers: 3}),
		clusterScenario("up, terminal, no rollback asked: the quota refuses node-2", traceCloud(quota(3)), fastConfig(), nil,
			[]events.Payload{create(good, 1, false)}, events.ScaleWorkers{Workers: 3}),
	})
}

func TestTracesUpgrade(t *testing.T) {
	upgraded := []events.Payload{create(good, 1, true)}
	golden(t, "upgrade", "UpgradeTemplate: the target resolved and checked, then one node at a time, control plane first.\n# An upgrade never rolls back. The setup (the cluster's create) is left out.", []scenario{
		clusterScenario("1.29 → 1.30", traceCloud(), fastConfig(), nil, upgraded, upgrade(next)),
		clusterScenario("retryable: asking the control plane to upgrade finds VCD busy once", traceCloud(), fastConfig(),
			[]*fault{{op: "SetGuestInfo", name: nodeName(events.RoleControlPlane, 0), times: 1, err: busy("reconfigure VM")}},
			upgraded, upgrade(next)),
		clusterScenario("terminal: the worker's upgrade fails", traceCloud(), fastConfig(),
			[]*fault{{op: "GuestInfo", name: nodeName(events.RoleWorker, 0), guest: map[string]string{executors.GuestUpgradeStatus: "failed:kubeadm-upgrade-node"}}},
			upgraded, upgrade(next)),
		clusterScenario("terminal: the target goes backwards", traceCloud(), fastConfig(), nil, upgraded, upgrade(older)),
		clusterScenario("terminal: the target is in no catalog", traceCloud(), fastConfig(), nil, upgraded, upgrade(missing)),
	})
}

func TestTracesDelete(t *testing.T) {
	golden(t, "delete", "DeleteCluster: the vApp and its VMs deleted at once, then ClusterDeleted. A delete never rolls back.\n# The setup (the cluster's create) is left out.", []scenario{
		clusterScenario("a running cluster", traceCloud(), fastConfig(), nil, []events.Payload{create(good, 1, true)}, events.DeleteCluster{}),
		clusterScenario("retryable: deleting the vApp finds VCD busy once", traceCloud(), fastConfig(),
			[]*fault{{op: "DeleteVApp", times: 1, err: busy("delete vApp")}}, []events.Payload{create(good, 1, true)}, events.DeleteCluster{}),
		clusterScenario("retries run out, then a second delete succeeds", traceCloud(), attempts(3),
			[]*fault{{op: "DeleteVApp", times: 4, err: busy("delete vApp")}}, []events.Payload{create(good, 1, true)},
			events.DeleteCluster{}, events.DeleteCluster{}),
		clusterScenario("a cluster whose create failed", traceCloud(), fastConfig(), nil, []events.Payload{create(broken, 1, false)}, events.DeleteCluster{}),
	})
}

// forceDuringCreate traces a create that cannot finish (its control plane's bootstrap
// hangs), a plain delete refused while it runs, and a forced delete that takes over.
func forceDuringCreate(name string, faults ...*fault) scenario {
	return scenario{name: name, run: func(t *testing.T) *tracer {
		tr := newTracer(t, traceCloud(), fastConfig(), events.DeriveID("cluster", "c1"), false, faults...)
		tr.send(create(hangs, 1, true))
		tr.waitEvent(events.TypeNodeStarted)
		del := tr.send(events.DeleteCluster{})
		tr.waitFor("the plain delete to be refused", func(seen func(string) bool, _ bool) bool { return seen(del) })
		tr.run(events.ForceDeleteCluster{})
		return tr
	}}
}

func TestTracesForceDelete(t *testing.T) {
	golden(t, "force-delete", "ForceDeleteCluster during a CreateCluster that cannot finish: the create is superseded, not rolled back.", []scenario{
		forceDuringCreate("while the control plane boots"),
		forceDuringCreate("retryable: deleting the vApp finds VCD busy once", &fault{op: "DeleteVApp", times: 1, err: busy("delete vApp")}),
	})
}

// buildScenario traces a template build of the recipe, changed by change.
func buildScenario(name string, change func(*events.Recipe), faults ...*fault) scenario {
	return scenario{name: name, run: func(t *testing.T) *tracer {
		r := buildRecipe("ubuntu-22.04_k8s-1.30_antrea-1.15-kaas")
		if change != nil {
			change(&r)
		}
		tr := newTracer(t, buildCloud(), buildConfig(), events.TemplateID(r.Name, 1), true, faults...)
		tr.recipe = r
		tr.run(events.BuildTemplate{Recipe: r, Revision: 1})
		return tr
	}}
}

func TestTracesTemplateBuild(t *testing.T) {
	customizationFails := func(r *events.Recipe) { r.KubernetesVersion = "v1.30.99" }
	golden(t, "template-build", "BuildTemplate (issue 12): base image, temporary vApp and VM, customization, capture, cleanup.\n# Every failed build rolls back: the temporary vApp, then the catalog items it made.\n# The guest's progress (TemplateBuildProgressed) is left out: it is what the polls happened to see.", []scenario{
		buildScenario("a build", nil),
		buildScenario("retryable: powering the build VM off finds VCD busy once", nil,
			&fault{op: "PowerOff", times: 1, err: busy("power off")}),
		buildScenario("terminal, rolled back: the customization fails", customizationFails),
		buildScenario("retryable: the rollback's vApp delete finds VCD busy once", customizationFails,
			&fault{op: "DeleteVApp", times: 1, err: busy("delete vApp")}),
		buildScenario("terminal, rolled back: the capture is refused", nil,
			&fault{op: "CaptureVApp", err: executors.Terminal(events.CodeVCDError, "VCD refused the request", "400", "The catalog is read-only.")}),
	})
}
