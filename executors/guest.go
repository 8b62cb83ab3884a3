package executors

// The guestinfo contract between kaas and a node's guest (architecture.md §3.5). kaas sets
// the user data when it creates the VM; the guest's bootstrap reports back with
// `vmtoolsd --cmd "info-set guestinfo.kaas.<key> <value>"`, and kaas reads the keys through
// the VCD API: no vCenter, no guest operations.
const (
	// Set by kaas.
	GuestUserData         = "guestinfo.userdata"          // base64 cloud-init user data
	GuestUserDataEncoding = "guestinfo.userdata.encoding" // "base64"
	GuestUpgradeTarget    = "guestinfo.kaas.upgrade.target"

	// Set by the guest.
	GuestStatus        = "guestinfo.kaas.status"         // running:<step> | done | failed:<reason>
	GuestIP            = "guestinfo.kaas.ip"             // the node's primary IP
	GuestKubeconfig    = "guestinfo.kaas.kubeconfig"     // base64 admin kubeconfig (control plane)
	GuestJoinCommand   = "guestinfo.kaas.join"           // base64 kubeadm join command (control plane)
	GuestUpgradeStatus = "guestinfo.kaas.upgrade.status" // running | done:<version> | failed:<reason>
	// GuestError is the guest's own account of a failure: base64 of the last lines its
	// failing command wrote (a template build's customization sets it before failed:<step>).
	GuestError = "guestinfo.kaas.error"
)
