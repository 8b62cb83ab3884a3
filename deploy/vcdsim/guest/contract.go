// Package guest plays the operating system inside a VM of the VCD simulator, for the two
// things kaas asks of it: the node bootstrap and the template build. It is written from the contract between kaas
// and a node (architecture.md §3.5: user data in, progress out, through guestinfo) and from
// how cloud-init and kubeadm read their input, not from kaas's code, so that a mistake in
// what kaas sends fails here as it would on a real node.
//
// A VM powered on boots and reads its user data from guestinfo as cloud-init's VMware
// datasource does: decoded as guestinfo.userdata.encoding says, a #cloud-config document
// read as YAML 1.1, its files written, its runcmd run. Only a script the user data writes
// and runs can do kaas's bootstrap; kubeadm reads the config file that script hands it. A
// control plane then publishes its IP, a kubeadm join command and an admin kubeconfig; a
// worker joins only with its own control plane's endpoint, token and CA hash; an NFS node
// just comes up. An upgrade target that kaas sets on a running node is applied after a
// delay, as kubeadm upgrade would allow it.
package guest

// The guestinfo keys: the wire contract between kaas and a node. kaas sets the user data
// when it creates the VM and the upgrade target when it upgrades a node; the guest reports
// the others, as a real node's bootstrap does with
// `vmtoolsd --cmd "info-set guestinfo.kaas.<key> <value>"`. kaas reads them all through the
// VCD API (the VM's extraConfig).
const (
	// KeyUserData is the cloud-init user data, encoded as KeyUserDataEncoding says.
	KeyUserData = "guestinfo.userdata"
	// KeyUserDataEncoding is base64 (kaas's), b64, gzip+base64 or gz+b64; anything else, or
	// nothing, leaves the user data as it is, as cloud-init does.
	KeyUserDataEncoding = "guestinfo.userdata.encoding"
	// KeyUpgradeTarget is set by kaas: the Kubernetes version a node is to upgrade to.
	KeyUpgradeTarget = "guestinfo.kaas.upgrade.target"

	// KeyStatus is the bootstrap's progress: running:<step>, done, or failed:<step>.
	KeyStatus = "guestinfo.kaas.status"
	// KeyIP is the node's address, reported when its bootstrap is done.
	KeyIP = "guestinfo.kaas.ip"
	// KeyKubeconfig is a control plane's admin kubeconfig, base64.
	KeyKubeconfig = "guestinfo.kaas.kubeconfig"
	// KeyJoin is a control plane's kubeadm join command, base64, as `kubeadm token create
	// --print-join-command` prints it (trailing space included).
	KeyJoin = "guestinfo.kaas.join"
	// KeyUpgradeStatus is an upgrade's progress: running, done:<version> or failed:<reason>.
	KeyUpgradeStatus = "guestinfo.kaas.upgrade.status"
	// KeyError is the guest's account of a failure, set before failed:<step>: base64 of the
	// failing command's last lines (at most 10 lines, 1 KiB).
	KeyError = "guestinfo.kaas.error"
)

// MetadataRole is the VM metadata key that holds a node's role.
const MetadataRole = "kaas.node.role"

// The roles a node has.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
	RoleNFS          = "nfs"
)

// The steps a bootstrap reports as running:<step> and fails at as failed:<step>.
const (
	StepBoot        = "boot"
	StepCloudInit   = "cloud-init"
	StepKubeadmInit = "kubeadm-init"
	StepKubeadmJoin = "kubeadm-join"
	StepNFSServer   = "nfs-server"
	// StepUpgrade is the reason of a failed upgrade: failed:kubeadm-upgrade.
	StepUpgrade = "kubeadm-upgrade"
)

// Never, as a FailAt, makes a guest hang at boot for ever.
const Never = "never"

// Status values the guest reports.
const (
	statusDone    = "done"
	statusRunning = "running"
	prefixRunning = "running:"
	prefixFailed  = "failed:"
	prefixDone    = "done:"
)
