package executors

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

// stepResult is what one step found out: events to record, or nothing yet (VCD still at
// work), or a timeout to fail the operation with.
type stepResult struct {
	events  []events.Payload
	timeout *events.Failure
}

func progress(evs ...events.Payload) stepResult { return stepResult{events: evs} }

// Secret references: events carry these names, never the values.
func kubeconfigRef(clusterID string) string { return "cluster." + clusterID + ".kubeconfig" }
func joinRef(clusterID string) string       { return "cluster." + clusterID + ".join" }

func vappRef(st *cluster.State) VAppRef {
	return VAppRef{Org: st.Spec.OrgName, OrgID: st.OrgID, VDC: st.Spec.VDC, Name: st.Spec.Name, ClusterID: st.ID}
}

func vmRef(st *cluster.State, name string) VMRef { return VMRef{VApp: vappRef(st), Name: name} }

// clusterStep carries out one kind of planned step: one VCD call (or a few reads), never
// waiting for VCD, and reports what it found.
type clusterStep func(e *Executor, ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error)

// clusterSteps names the function that carries out each kind of step Plan returns.
var clusterSteps = map[cluster.StepKind]clusterStep{
	cluster.StepResolveTemplate:   (*Executor).resolveTemplate,
	cluster.StepCreateVApp:        (*Executor).createVApp,
	cluster.StepCreateNode:        (*Executor).createNode,
	cluster.StepStartNode:         (*Executor).startNode,
	cluster.StepAwaitControlPlane: (*Executor).awaitControlPlane,
	cluster.StepAwaitNodes:        (*Executor).awaitNodes,
	cluster.StepProvisionNodes:    (*Executor).provisionNodes,
	cluster.StepRequestUpgrade:    (*Executor).requestUpgrade,
	cluster.StepAwaitUpgrade:      (*Executor).awaitUpgrade,
	cluster.StepDeleteNode:        (*Executor).deleteNode,
	cluster.StepDeleteVApp:        (*Executor).deleteVApp,
	cluster.StepRecord:            (*Executor).recordEvent,
	cluster.StepFail:              (*Executor).failStep,
}

// step carries out one planned step of a cluster operation.
func (e *Executor) step(ctx context.Context, d *delivery, s cluster.Step) (stepResult, error) {
	run, ok := clusterSteps[s.Kind]
	if !ok {
		return stepResult{}, noStep(string(s.Kind))
	}
	return run(e, ctx, d.st, s)
}

func noStep(kind string) error {
	return Terminal(events.CodeInternal, "no step to run for "+kind, "", "")
}

// whenDone records ev once VCD has done what it was asked; until then the step finds
// nothing yet.
func whenDone(res Status, err error, ev events.Payload) (stepResult, error) {
	if err != nil || !res.Done {
		return stepResult{}, err
	}
	return progress(ev), nil
}

func (e *Executor) resolveTemplate(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	t, err := e.vcd.ResolveTemplate(ctx, Org{Name: st.Spec.OrgName, ID: st.OrgID}, s.Template)
	if err != nil {
		return stepResult{}, err
	}
	return progress(events.TemplateResolved{Template: t}), nil
}

// vappSpec is the cluster's vApp, tagged.
func vappSpec(st *cluster.State) VAppSpec {
	return VAppSpec{VAppRef: vappRef(st), Network: st.Spec.Network, Metadata: map[string]string{
		MetaClusterID: st.ID, MetaOrgID: st.OrgID, MetaTemplate: fmt.Sprintf("%s/%d", st.Template.Name, st.Template.Revision)}}
}

// createVApp makes the vApp on its network. It is tagged later (vappTagged), once its
// VMs are in: a tag is a task of its own on the vApp, which VCD runs one at a time, and
// until then the vApp is known as the cluster's by the description it is made with.
func (e *Executor) createVApp(ctx context.Context, st *cluster.State, _ cluster.Step) (stepResult, error) {
	spec := vappSpec(st)
	spec.Metadata = nil
	res, err := e.vcd.EnsureVApp(ctx, spec)
	return whenDone(res, err, events.VAppCreated{VAppID: res.ID, Name: st.Spec.Name})
}

// vappTagged puts kaas's metadata on the cluster's vApp, if it lacks it; it reports
// whether the vApp has it. Once it has, that is remembered (a hint, like prepared).
func (e *Executor) vappTagged(ctx context.Context, st *cluster.State) (bool, error) {
	key := st.ID + "#tagged"
	if e.isPrepared(key) {
		return true, nil
	}
	res, err := e.vcd.EnsureVApp(ctx, vappSpec(st))
	if err != nil || !res.Done {
		return false, err
	}
	e.setPrepared(key)
	return true, nil
}

func (e *Executor) createNode(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	spec, err := e.vmSpec(ctx, st, s.New, true)
	if err != nil {
		return stepResult{}, err
	}
	if s.New.Role == events.RoleControlPlane {
		// Tagging is a task of its own on the VM: the control plane is tagged while it
		// boots (awaitControlPlane), not before it is powered on.
		spec.Metadata = nil
	}
	res, err := e.vcd.EnsureVM(ctx, spec)
	return whenDone(res, err, events.NodeCreated{Name: s.New.Name, Role: s.New.Role, Ordinal: s.New.Ordinal, VMID: res.ID})
}

func (e *Executor) startNode(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	res, err := e.vcd.PowerOn(ctx, vmRef(st, s.Node.Name))
	if err == nil && !res.Done {
		e.prepareNodes(ctx, st, s.News) // a control plane's: see cluster.Step.News
	}
	return whenDone(res, err, events.NodeStarted{Name: s.Node.Name})
}

// provisionNodes makes and powers on a create's workers and NFS nodes all at once: each
// call only starts or checks VCD's work on one VM, so one pass moves every node on, and
// VCD runs their tasks in parallel (adding VMs to the vApp one at a time). Like
// awaitNodes, a node VCD is busy with for a while is skipped this time, and the step fails
// only when no node could be asked.
//
// The new nodes are recorded in ordinal order within each role: a node made before an
// earlier one waits to be recorded until that one is. The next ordinal is then never past
// a VM that exists but is not recorded, so that a crash finds every VM this step made by
// the name the plan gives it again.
func (e *Executor) provisionNodes(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	var out []events.Payload
	var skipped error
	asked := 0
	for _, n := range s.Nodes {
		res, err := e.vcd.PowerOn(ctx, vmRef(st, n.Name))
		if err != nil {
			if retry, _ := classify(err); !retry || ctx.Err() != nil {
				return progress(out...), err
			}
			skipped = err
			continue
		}
		asked++
		if res.Done {
			out = append(out, events.NodeStarted{Name: n.Name})
		}
	}
	waiting := map[string]bool{} // roles with an earlier node not made yet
	for _, n := range s.News {
		if err := e.refused(st.ID + "/" + n.Name); err != nil {
			return progress(out...), err
		}
		spec, err := e.vmSpec(ctx, st, n, true)
		if err != nil {
			return progress(out...), err
		}
		res, err := e.vcd.EnsureVM(ctx, spec)
		if err != nil {
			if retry, _ := classify(err); !retry || ctx.Err() != nil {
				return progress(out...), err
			}
			skipped, waiting[n.Role] = err, true
			continue
		}
		asked++
		if !res.Done || waiting[n.Role] {
			waiting[n.Role] = true
			continue
		}
		out = append(out, events.NodeCreated{Name: n.Name, Role: n.Role, Ordinal: n.Ordinal, VMID: res.ID})
	}
	if asked == 0 && skipped != nil {
		return progress(out...), skipped
	}
	return progress(out...), nil
}

// prepareNodes makes the VMs of nodes the control plane's join command is not needed for
// yet, while it boots: each from its template, sized, tagged and powered off, without user
// data, which ProvisionNodes writes once the join command is known (real guests read it at
// first boot, so nothing is powered on before). VCD adds VMs to a vApp one at a time: the
// nodes are asked for in order, and the first whose VM is not in the vApp yet ends the
// pass (one whose VM is there but still being tagged does not). It is only a head start:
// nothing is recorded, a failure is left for ProvisionNodes to meet, and the VMs are found
// by name then. Those done are remembered, so that later polls do not ask again.
func (e *Executor) prepareNodes(ctx context.Context, st *cluster.State, news []cluster.NewNode) {
	defer func() {
		// Once the VMs are in, the vApp is free for its tag.
		if !slices.ContainsFunc(news, func(n cluster.NewNode) bool { return !e.isPrepared(st.ID + "/" + n.Name) }) {
			_, _ = e.vappTagged(ctx, st)
		}
	}()
	for _, n := range news {
		key := st.ID + "/" + n.Name
		if e.isPrepared(key) {
			continue
		}
		spec, err := e.vmSpec(ctx, st, n, false)
		if err != nil {
			return
		}
		res, err := e.vcd.EnsureVM(ctx, spec)
		if retry, _ := classify(err); err != nil && !retry {
			// VCD refused (a task that failed is reported once): ProvisionNodes fails
			// with it, as it would have had it asked.
			e.setRefused(key, err)
		}
		switch {
		case err != nil || res.ID == "":
			return
		case res.Done:
			e.setPrepared(key)
		}
	}
}

// tooEarly reports whether a node's bootstrap cannot be done yet, so that its guestinfo
// is not read: every node of its role seen booting so far was still at it longer after
// its power-on than this one is now, by a poll interval to spare.
func (e *Executor) tooEarly(n *cluster.Node) bool {
	e.mu.Lock()
	least, ok := e.boots[n.Role]
	e.mu.Unlock()
	return ok && time.Since(n.StartedAt) < least-e.cfg.PollInterval
}

// sawBoot notes a read of a node's bootstrap. Once it is done, the last read that found
// it still booting says how long, at least, a bootstrap of its role takes: a bound kaas's
// own polling cannot stretch, as the first read that finds it done could be late.
func (e *Executor) sawBoot(st *cluster.State, n *cluster.Node, done bool) {
	key := st.ID + "/" + n.Name
	e.mu.Lock()
	defer e.mu.Unlock()
	if !done {
		if len(e.booting) > 100_000 {
			clear(e.booting) // hints
		}
		e.booting[key] = time.Now()
		return
	}
	last, ok := e.booting[key]
	delete(e.booting, key)
	if took := last.Sub(n.StartedAt); ok && took > 0 {
		if have, known := e.boots[n.Role]; !known || took < have {
			e.boots[n.Role] = took
		}
	}
}

// tagged puts kaas's metadata on a node's VM, if it lacks it; it reports whether the VM
// has it. Once it has, that is remembered (a hint, like prepared).
func (e *Executor) tagged(ctx context.Context, st *cluster.State, n *cluster.Node) (bool, error) {
	key := st.ID + "/" + n.Name + "#tagged"
	if e.isPrepared(key) {
		return true, nil
	}
	spec, err := e.vmSpec(ctx, st, cluster.NewNode{Name: n.Name, Role: n.Role, Ordinal: n.Ordinal}, false)
	if err != nil {
		return false, err
	}
	res, err := e.vcd.EnsureVM(ctx, spec)
	if err != nil || !res.Done {
		return false, err
	}
	e.setPrepared(key)
	return true, nil
}

// setRefused keeps what VCD answered when it refused to make a node's VM ahead of time;
// refused hands it over, once. Lost in a restart, it only costs asking VCD again.
func (e *Executor) setRefused(key string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.refusals) > 100_000 {
		clear(e.refusals)
	}
	e.refusals[key] = err
}

func (e *Executor) refused(key string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.refusals[key]
	delete(e.refusals, key)
	return err
}

func (e *Executor) isPrepared(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.prepared[key]
}

func (e *Executor) setPrepared(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.prepared) > 100_000 {
		clear(e.prepared) // hints: forgetting one costs a few reads
	}
	e.prepared[key] = true
}

// awaitNodes reads every waiting worker and NFS node each time. A read VCD fails for a
// while (a busy VM) only skips that node this time: the step fails, and counts towards its
// retries, when no node could be read, so that nodes that are fine are not held back and a
// long wait is not cut short by scattered errors.
func (e *Executor) awaitNodes(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	// No node of a create is recorded ready before the vApp is tagged: it was tagged long
	// before, as nodes take longer to boot than a tag takes, unless a restart forgot that.
	if st.Op != nil && st.Op.Op == events.OpCreate {
		if ok, err := e.vappTagged(ctx, st); err != nil || !ok {
			return stepResult{}, err
		}
	}
	var out []events.Payload
	var skipped error
	read := 0
	for _, n := range s.Nodes {
		b, err := e.readBoot(ctx, st, n)
		switch {
		case err != nil:
			return progress(out...), err
		case b.timeout != nil:
			return stepResult{timeout: b.timeout}, nil
		case b.skipped != nil:
			skipped = b.skipped
		case b.ready != nil:
			out = append(out, b.ready)
		}
		if b.read {
			read++
		}
	}
	if read == 0 && skipped != nil {
		return progress(out...), skipped
	}
	return progress(out...), nil
}

// nodeBoot is what one read of a booting node found.
type nodeBoot struct {
	read    bool            // its guestinfo could be read
	ready   events.Payload  // NodeJoined or NodeReady: its bootstrap is done, its user data wiped
	skipped error           // VCD failed for a while: the node is read again next time
	timeout *events.Failure // it took too long
}

// readBoot reads one node's bootstrap progress.
func (e *Executor) readBoot(ctx context.Context, st *cluster.State, n *cluster.Node) (nodeBoot, error) {
	if e.tooEarly(n) {
		return nodeBoot{}, nil
	}
	gi, err := e.vcd.GuestInfo(ctx, vmRef(st, n.Name))
	if err != nil {
		return skippable(ctx, nodeBoot{}, err)
	}
	b := nodeBoot{read: true}
	done, err := bootDone(gi, n)
	e.sawBoot(st, n, done)
	switch {
	case err != nil:
		return b, err
	case !done && time.Since(n.StartedAt) > e.cfg.BootTimeout:
		b.timeout = e.bootTimeout(n)
		return b, nil
	case !done:
		return b, nil
	}
	// A worker's user data holds the join command: wipe it once used.
	wiped, err := e.wipe(ctx, st, n, gi, GuestUserData)
	if err != nil {
		return skippable(ctx, b, err)
	}
	if wiped {
		b.ready = readyEvent(n, gi[GuestIP])
	}
	return b, nil
}

// skippable skips a node whose call failed for a while; any other error fails the step.
func skippable(ctx context.Context, b nodeBoot, err error) (nodeBoot, error) {
	if retry, _ := classify(err); retry && ctx.Err() == nil {
		b.skipped = err
		return b, nil
	}
	return b, err
}

// readyEvent: an NFS node is ready once booted; a worker has joined the cluster.
func readyEvent(n *cluster.Node, ip string) events.Payload {
	if n.Role == events.RoleNFS {
		return events.NodeReady{Name: n.Name, IP: ip}
	}
	return events.NodeJoined{Name: n.Name, IP: ip}
}

func (e *Executor) requestUpgrade(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	res, err := e.vcd.SetGuestInfo(ctx, vmRef(st, s.Node.Name), map[string]string{GuestUpgradeTarget: s.Version})
	return whenDone(res, err, events.NodeUpgradeRequested{Name: s.Node.Name, KubernetesVersion: s.Version})
}

func (e *Executor) awaitUpgrade(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	gi, err := e.vcd.GuestInfo(ctx, vmRef(st, s.Node.Name))
	if err != nil {
		return stepResult{}, err
	}
	status := gi[GuestUpgradeStatus]
	switch {
	case status == "done:"+s.Version:
		return progress(events.NodeUpgraded{Name: s.Node.Name, KubernetesVersion: s.Version}), nil
	case strings.HasPrefix(status, "failed"):
		return stepResult{}, Terminal(events.CodeBootstrapFailed,
			fmt.Sprintf("node %s could not upgrade to Kubernetes %s (%s)", s.Node.Name, s.Version, status), "", "")
	}
	return stepResult{}, nil
}

func (e *Executor) deleteNode(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	res, err := e.vcd.DeleteVM(ctx, vmRef(st, s.Node.Name))
	return whenDone(res, err, events.NodeDeleted{Name: s.Node.Name})
}

// deleteVApp deletes the vApp and all its VMs; a vApp already gone is named by the id
// the history knows.
func (e *Executor) deleteVApp(ctx context.Context, st *cluster.State, _ cluster.Step) (stepResult, error) {
	res, err := e.vcd.DeleteVApp(ctx, vappRef(st))
	return whenDone(res, err, events.VAppDeleted{VAppID: cmp.Or(res.ID, st.VAppID)})
}

// recordEvent records the planned event, after forgetting the cluster's secrets when it goes.
func (e *Executor) recordEvent(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	if e.forgetsSecrets(st, s.Event) {
		for _, ref := range []string{kubeconfigRef(st.ID), joinRef(st.ID)} {
			if err := e.store.Secrets().Delete(ctx, ref); err != nil {
				return stepResult{}, err
			}
		}
	}
	return progress(s.Event), nil
}

// failStep ends the operation the plan says cannot go on.
func (e *Executor) failStep(_ context.Context, _ *cluster.State, s cluster.Step) (stepResult, error) {
	return stepResult{}, Terminal(s.Failure.Code, s.Failure.Message, "", "")
}

// forgetsSecrets: a deleted or rolled-back cluster's kubeconfig and join command go too.
func (e *Executor) forgetsSecrets(st *cluster.State, ev events.Payload) bool {
	switch ev.(type) {
	case events.ClusterDeleted:
		return true
	case events.OperationRolledBack:
		return st.Op != nil && st.Op.Op == events.OpCreate
	}
	return false
}

func (e *Executor) bootTimeout(n *cluster.Node) *events.Failure {
	return &events.Failure{Code: events.CodeTimeout,
		Message: fmt.Sprintf("node %s did not finish its bootstrap within %s", n.Name, e.cfg.BootTimeout)}
}

// bootDone reads a node's bootstrap status from its guestinfo.
func bootDone(gi map[string]string, n *cluster.Node) (bool, error) {
	status := gi[GuestStatus]
	switch {
	case status == "done":
		return true, nil
	case strings.HasPrefix(status, "failed"):
		step := strings.TrimPrefix(strings.TrimPrefix(status, "failed"), ":")
		return false, Terminal(events.CodeBootstrapFailed, fmt.Sprintf("node %s: bootstrap failed at %s", n.Name, step), "", "")
	}
	return false, nil
}

// awaitControlPlane reads the control plane's bootstrap progress and, once it is done,
// moves the secrets it published out of VCD: stored (sealed) first, then wiped from the
// VM's guestinfo, and only then is the event that names them recorded, so that no step of
// a crash leaves them only in VCD.
func (e *Executor) awaitControlPlane(ctx context.Context, st *cluster.State, s cluster.Step) (stepResult, error) {
	n := s.Node
	if e.tooEarly(n) {
		_, _ = e.tagged(ctx, st, n)
		e.prepareNodes(ctx, st, s.News)
		return stepResult{}, nil
	}
	gi, err := e.vcd.GuestInfo(ctx, vmRef(st, n.Name))
	if err != nil {
		return stepResult{}, err
	}
	done, err := bootDone(gi, n)
	if err != nil {
		return stepResult{}, err
	}
	e.sawBoot(st, n, done)
	if !done {
		if time.Since(n.StartedAt) > e.cfg.BootTimeout {
			return stepResult{timeout: e.bootTimeout(n)}, nil
		}
		_, _ = e.tagged(ctx, st, n) // tried again below once it is done, and then it counts
		e.prepareNodes(ctx, st, s.News)
		return stepResult{}, nil
	}
	if ok, err := e.tagged(ctx, st, n); err != nil || !ok {
		return stepResult{}, err
	}
	if err := e.storeSecrets(ctx, st, n, gi); err != nil {
		return stepResult{}, err
	}
	if wiped, err := e.wipe(ctx, st, n, gi, GuestKubeconfig, GuestJoinCommand); err != nil || !wiped {
		return stepResult{}, err
	}
	if err := e.secretsStored(ctx, st, n); err != nil {
		return stepResult{}, err
	}
	ip := gi[GuestIP]
	return progress(events.ControlPlaneInitialized{Node: n.Name, IP: ip, Endpoint: "https://" + ip + ":6443",
		KubeconfigRef: kubeconfigRef(st.ID), JoinCommandRef: joinRef(st.ID)}), nil
}

// storeSecrets stores the kubeconfig and join command the control plane published in its
// guestinfo, if they are still there (a step interrupted after the wipe finds them gone).
func (e *Executor) storeSecrets(ctx context.Context, st *cluster.State, n *cluster.Node, gi map[string]string) error {
	if gi[GuestKubeconfig] == "" && gi[GuestJoinCommand] == "" {
		return nil
	}
	kubeconfig, err1 := base64.StdEncoding.DecodeString(gi[GuestKubeconfig])
	join, err2 := base64.StdEncoding.DecodeString(gi[GuestJoinCommand])
	if err1 != nil || err2 != nil || len(kubeconfig) == 0 || len(join) == 0 || gi[GuestIP] == "" {
		return Terminal(events.CodeBootstrapFailed,
			fmt.Sprintf("control plane %s reported done without a usable kubeconfig, join command and IP", n.Name), "", "")
	}
	// The guest wrote the join command, so it is only data: workers get its parts, and
	// it is read here once so that a control plane reporting anything but kubeadm's
	// command fails the operation now, not each worker later. The error names the
	// problem, never the command (it holds the token).
	parsed, err := bootstrap.ParseJoin(string(join))
	if err != nil {
		return Terminal(events.CodeBootstrapFailed, fmt.Sprintf("control plane %s reported an unusable %v", n.Name, err), "", "")
	}
	if err := e.store.Secrets().Put(ctx, kubeconfigRef(st.ID), kubeconfig); err != nil {
		return err
	}
	return e.store.Secrets().Put(ctx, joinRef(st.ID), []byte(parsed.String()))
}

// secretsStored checks that the secrets wiped from VCD are in the store: if they are not,
// nothing can bring them back.
func (e *Executor) secretsStored(ctx context.Context, st *cluster.State, n *cluster.Node) error {
	for _, ref := range []string{kubeconfigRef(st.ID), joinRef(st.ID)} {
		if _, err := e.store.Secrets().Get(ctx, ref); err != nil {
			return Terminal(events.CodeBootstrapFailed,
				fmt.Sprintf("control plane %s: its kubeconfig and join command are lost (%v); recreate the cluster", n.Name, err), "", "")
		}
	}
	return nil
}

// wipe empties guestinfo keys that hold secrets; it reports whether they are empty now.
func (e *Executor) wipe(ctx context.Context, st *cluster.State, n *cluster.Node, gi map[string]string, keys ...string) (bool, error) {
	clear := map[string]string{}
	for _, k := range keys {
		if gi[k] != "" {
			clear[k] = ""
		}
	}
	if len(clear) == 0 {
		return true, nil
	}
	res, err := e.vcd.SetGuestInfo(ctx, vmRef(st, n.Name), clear)
	return err == nil && res.Done, err
}

// vmSpec builds a node's VM, its bootstrap (user data) included when userData is set.
func (e *Executor) vmSpec(ctx context.Context, st *cluster.State, n cluster.NewNode, userData bool) (VMSpec, error) {
	pool := map[string]events.NodePool{events.RoleControlPlane: st.Spec.ControlPlane, events.RoleWorker: st.Spec.Workers,
		events.RoleNFS: st.Spec.NFS}[n.Role]
	sizing := sizingOf(pool, st.Template.Rules)
	spec := VMSpec{
		VMRef: vmRef(st, n.Name), Role: n.Role, Template: st.Template, Network: st.Spec.Network,
		SizingClass: sizing.SizingPolicy, StorageProfile: pool.StorageProfile, CPU: sizing.CPU, MemoryMB: sizing.MemoryMB,
		Metadata: map[string]string{MetaClusterID: st.ID, MetaNodeRole: n.Role, MetaOrgID: st.OrgID},
	}
	if !userData {
		return spec, nil
	}
	p := bootstrap.Params{ClusterName: st.Spec.Name, ClusterID: st.ID, NodeName: n.Name, KubernetesVersion: st.Template.KubernetesVersion,
		CNI: st.Template.CNI.Name, CNIVersion: st.Template.CNI.Version, SSHKey: st.Spec.SSHKey}
	if len(st.Spec.PodCIDRs) > 0 {
		p.PodCIDR = st.Spec.PodCIDRs[0]
	}
	if len(st.Spec.ServiceCIDRs) > 0 {
		p.ServiceCIDR = st.Spec.ServiceCIDRs[0]
	}
	if n.Role == events.RoleWorker {
		join, err := e.store.Secrets().Get(ctx, st.ControlPlane.JoinCommandRef)
		if err != nil {
			return VMSpec{}, Terminal(events.CodeInternal, "the control plane's join command is missing", "", err.Error())
		}
		p.JoinCommand = string(join)
	}
	// Render checks what it is given (the stored join command again) and says what is
	// wrong without quoting it.
	ud, err := bootstrap.Render(n.Role, p)
	if err != nil {
		return VMSpec{}, Terminal(events.CodeInternal, fmt.Sprintf("node %s: %v", n.Name, err), "", "")
	}
	spec.GuestInfo = map[string]string{
		GuestUserData:         base64.StdEncoding.EncodeToString([]byte(ud)),
		GuestUserDataEncoding: "base64",
	}
	return spec, nil
}

// sizingOf is how big a pool's VMs are: the pool's own sizing class, CPUs and memory when
// it names any of them, else the template's rules (CSE's template_rules), else nothing,
// which leaves them the template VM's hardware. A pool's values are never mixed with the
// rules': a sizing class of the pool's and a CPU count of the template's could contradict
// each other.
func sizingOf(pool events.NodePool, rules events.TemplateRules) events.TemplateRules {
	if pool.SizingClass != "" || pool.CPU != 0 || pool.MemoryMB != 0 {
		return events.TemplateRules{SizingPolicy: pool.SizingClass, CPU: pool.CPU, MemoryMB: pool.MemoryMB}
	}
	return rules
}
