package guest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// VM is what a guest sees of its VM: the simulator's side of the machine.
type VM struct {
	// Role is the node's role (RoleControlPlane, RoleWorker, RoleNFS).
	Role string
	// IP is the address the VM's NIC got; "" when it has none.
	IP string
	// Kubernetes is the version of the kubeadm and kubelet its template ships, e.g.
	// v1.30.4; "" leaves versions unchecked.
	Kubernetes string
	// On is when the VM was powered on; zero while it is off.
	On time.Time
	// Info is the VM's guestinfo (extraConfig): kaas's keys in, the guest's out. Play and
	// Reconfigured write to it.
	Info map[string]string
	// CPU and MemoryMB are the VM's hardware; 0 is not known, and not checked.
	CPU, MemoryMB int
	// Bare says that nothing of Kubernetes is installed (a VM of a base OS image): a
	// bootstrap finds no kubeadm.
	Bare bool
	// Silent says that the VM runs neither cloud-init nor VMware Tools: nothing reads its
	// user data, nothing reports.
	Silent bool
}

// Behaviour is how the simulator makes a guest behave.
type Behaviour struct {
	// BootDelay is how long the bootstrap takes after power on.
	BootDelay time.Duration
	// FailAt makes the bootstrap (or template build) fail at this step, whatever the user
	// data; Never makes it hang at boot.
	FailAt string
	// HangAt makes the bootstrap or build stop at this step, reporting it running.
	HangAt string
	// Repository is what a template build can install.
	Repository Repository
}

// Cluster is what the nodes of one cluster share: what its control plane's kubeadm init
// made, which a worker's join must present. Its zero value is a cluster with no control
// plane yet.
type Cluster struct {
	ca      *authority // nil until a control plane's init
	version string     // the control plane's Kubernetes version
}

// Guest is the memory of one VM's guest beyond its guestinfo: the Kubernetes version it
// runs and the upgrade it was asked for. Its zero value is a VM never booted.
type Guest struct {
	version string   // the Kubernetes version the node runs, once bootstrapped
	keys    []string // the SSH keys cloud-init installed
	// read is the power-on whose user data was read for a template build; build is that
	// build's plan, nil when the user data is no build.
	read      time.Time
	build     *buildPlan
	installed *Installed // what a build installed, once done
	upgrade   struct {
		target string
		until  time.Time
		ended  bool
	}
}

// Play runs the guest up to now: the bootstrap of a VM powered on, then an upgrade kaas
// asked for. When the bootstrap or the upgrade fails in this call, it says why, for the
// simulator's log (kaas sees only the step, as from a real node).
func (g *Guest) Play(vm VM, c *Cluster, b Behaviour, now time.Time) error {
	return errors.Join(g.boot(vm, c, b, now), g.playUpgrade(vm, c, now))
}

func (g *Guest) boot(vm VM, c *Cluster, b Behaviour, now time.Time) error {
	status := vm.Info[KeyStatus]
	if vm.On.IsZero() || now.Before(vm.On) || status == statusDone || strings.HasPrefix(status, prefixFailed) {
		return nil
	}
	if vm.Silent {
		return nil
	}
	if !g.read.Equal(vm.On) {
		g.read, g.build = vm.On, nil
		if ud, err := readUserData(vm.Info); err == nil {
			g.build, err = planBuild(ud, vm, b.Repository)
			if err != nil && !errors.Is(err, errNotBuild) {
				return err
			}
		}
	}
	if g.build != nil {
		return g.playBuild(vm, g.build, b, now)
	}
	since := now.Sub(vm.On)
	switch {
	case b.HangAt != "" && (b.HangAt == StepBoot || since >= b.BootDelay/2 && b.HangAt == mainStep(vm.Role)):
		vm.Info[KeyStatus] = prefixRunning + b.HangAt
	case b.FailAt == Never || since < b.BootDelay/2:
		vm.Info[KeyStatus] = prefixRunning + StepBoot
	case since < b.BootDelay:
		vm.Info[KeyStatus] = prefixRunning + mainStep(vm.Role)
	case b.FailAt != "":
		vm.Info[KeyStatus] = prefixFailed + b.FailAt
		return fmt.Errorf("%s: a fault the simulator was told to inject", b.FailAt)
	default:
		return g.bootstrap(vm, c)
	}
	return nil
}

// mainStep is the step a node of the role spends its bootstrap in.
func mainStep(role string) string {
	switch role {
	case RoleControlPlane:
		return StepKubeadmInit
	case RoleNFS:
		return StepNFSServer
	}
	return StepKubeadmJoin
}

// bootstrap does what the node's user data says, all at once, and reports the outcome. A
// real node whose user data cloud-init cannot use never reports anything and kaas times
// out; the guest reports failed:cloud-init at once instead, which says more.
func (g *Guest) bootstrap(vm VM, c *Cluster) error {
	fail := func(step string, err error) error {
		vm.Info[KeyStatus] = prefixFailed + step
		return fmt.Errorf("%s: %w", step, err)
	}
	ud, err := readUserData(vm.Info)
	if err != nil {
		return fail(StepCloudInit, err)
	}
	// cloud-init's ssh module runs before runcmd, whatever the bootstrap then does.
	g.keys = ud.keys
	step := mainStep(vm.Role)
	if vm.IP == "" {
		// No address, no route: kubeadm reaches nothing, nor do NFS clients.
		return fail(step, errors.New("the VM has no address"))
	}
	// kubeadm init's preflight checks (NumCPU, Mem) refuse a control plane smaller than this.
	if vm.Role == RoleControlPlane && (vm.CPU > 0 && vm.CPU < minControlPlaneCPU || vm.MemoryMB > 0 && vm.MemoryMB < minControlPlaneMemoryMB) {
		return fail(step, fmt.Errorf("kubeadm's preflight refuses %d CPUs and %d MB: a control plane needs %d CPUs and %d MB",
			vm.CPU, vm.MemoryMB, minControlPlaneCPU, minControlPlaneMemoryMB))
	}
	if vm.Bare && vm.Role != RoleNFS {
		// The script runs kubeadm, which a base OS image does not have.
		vm.Info[KeyError] = base64.StdEncoding.EncodeToString([]byte("/bin/sh: 1: kubeadm: not found"))
		return fail(step, errors.New("kubeadm: not found (the VM's template has no Kubernetes installed)"))
	}
	switch vm.Role {
	case RoleControlPlane:
		cfg, err := ud.kubeadmConfig("init")
		if err != nil {
			return fail(step, err)
		}
		ic, err := checkInit(cfg, ud.hostname, vm.Kubernetes)
		if err != nil {
			return fail(step, err)
		}
		ca, err := newAuthority(vm.IP)
		if err != nil {
			return fail(step, err)
		}
		kubeconfig, err := ca.kubeconfig(ic.clusterName)
		if err != nil {
			return fail(step, err)
		}
		c.ca = ca
		vm.Info[KeyJoin] = base64.StdEncoding.EncodeToString([]byte(ca.joinCommand()))
		vm.Info[KeyKubeconfig] = base64.StdEncoding.EncodeToString(kubeconfig)
	case RoleWorker:
		cfg, err := ud.kubeadmConfig("join")
		if err == nil {
			err = checkJoin(cfg, ud.hostname, c.ca)
		}
		if err == nil && newerMinor(vm.Kubernetes, c.version) {
			err = fmt.Errorf("kubeadm's preflight refuses a kubelet (%s) newer than its control plane (%s)", vm.Kubernetes, c.version)
		}
		if err != nil {
			return fail(step, err)
		}
	}
	g.version = vm.Kubernetes
	if vm.Role == RoleControlPlane {
		c.version = g.version
	}
	vm.Info[KeyIP] = vm.IP
	vm.Info[KeyStatus] = statusDone
	return nil
}

// What kubeadm's preflight checks ask of a control plane.
const minControlPlaneCPU, minControlPlaneMemoryMB = 2, 1700

// AuthorizedKeys are the SSH keys cloud-init installed from the user data it read (none
// before the VM booted).
func (g *Guest) AuthorizedKeys() []string {
	if len(g.keys) == 0 {
		return nil
	}
	return append([]string(nil), g.keys...)
}

// Reconfigured tells the guest that kaas wrote its guestinfo. A new upgrade target starts
// an upgrade that takes the given time.
func (g *Guest) Reconfigured(vm VM, now time.Time, takes time.Duration) {
	target := vm.Info[KeyUpgradeTarget]
	if target == "" || target == g.upgrade.target {
		return
	}
	g.upgrade.target, g.upgrade.until, g.upgrade.ended = target, now.Add(takes), false
	vm.Info[KeyUpgradeStatus] = statusRunning
}

// playUpgrade ends an upgrade whose time has come on a VM that is on, as kubeadm upgrade
// would: it fails on a node that never bootstrapped or runs no kubeadm (NFS), for a target
// that is no Kubernetes version, a downgrade or a skipped minor version, and on a worker
// whose kubelet would be newer than its control plane.
func (g *Guest) playUpgrade(vm VM, c *Cluster, now time.Time) error {
	u := &g.upgrade
	if u.target == "" || u.ended || vm.On.IsZero() || now.Before(vm.On) || now.Before(u.until) {
		return nil
	}
	u.ended = true
	var why string
	switch {
	case vm.Info[KeyStatus] != statusDone:
		why = "the node never bootstrapped"
	case vm.Role == RoleNFS:
		why = "an NFS node runs no kubeadm"
	case !upgradable(g.version, u.target):
		why = fmt.Sprintf("kubeadm does not upgrade %s to %q", g.version, u.target)
	case vm.Role == RoleWorker && newerMinor(u.target, c.version):
		why = fmt.Sprintf("a worker's kubelet would be newer (%s) than its control plane (%s)", u.target, c.version)
	}
	if why != "" {
		vm.Info[KeyUpgradeStatus] = prefixFailed + StepUpgrade
		return fmt.Errorf("%s: %s", StepUpgrade, why)
	}
	g.version = u.target
	if vm.Role == RoleControlPlane {
		c.version = u.target
	}
	vm.Info[KeyUpgradeStatus] = prefixDone + u.target
	return nil
}
