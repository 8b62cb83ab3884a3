package cluster

import (
	"crypto/rsa"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/kaasproject/kaas/events"
)

// Limits on what a tenant may ask for. Every value of a spec reaches VCD or a node, so each
// is checked for what it is before anything is recorded (architecture.md §3.12).
const (
	MaxWorkers = 100
	// MaxNameLength is CSE's limit on a cluster name.
	MaxNameLength = 25
	// MaxVCDNameLength bounds the names kaas looks up in VCD (org, VDC, network, catalog
	// item, VM sizing policy, storage profile), at VCD's usual limit on entity names.
	MaxVCDNameLength = 128
	// MaxSiteLength bounds metadata.site, a VCD address kaas only echoes.
	MaxSiteLength = 256
	// MaxSSHKeyLength bounds the key line: a 16384-bit RSA key with a comment fits.
	MaxSSHKeyLength = 4096
	// MinRSABits is the smallest RSA key accepted (NIST's floor since 2013).
	MinRSABits = 2048

	// CPU and memory per node, when given instead of a sizing class. 128 vCPUs is the most
	// ESXi 6.5 and 6.7, which VCD 10.2 still runs on, give a VM; 1 TiB is far below every
	// supported host's VM maximum and far above what a node needs. Below 1 GiB no node
	// image runs Kubernetes.
	MinCPU, MaxCPU           = 1, 128
	MinMemoryMB, MaxMemoryMB = 1024, 1 << 20
	// The control plane needs what kubeadm's preflight checks demand (2 CPUs, 1700 MB).
	MinControlPlaneCPU, MinControlPlaneMemoryMB = 2, 2048

	// Pod blocks: kube-controller-manager gives each node a /24 of the pod block, so the
	// block must hold one per node: /17 holds 128, enough for the control plane and
	// MaxWorkers workers. Service blocks: kube-apiserver refuses an IPv4 service range
	// larger than /12, and below /24 there is hardly room for the cluster's own services.
	MinPodPrefix, MaxPodPrefix         = 8, 17
	MinServicePrefix, MaxServicePrefix = 12, 24

	// The blocks a cluster gets when the tenant names none: kaas's node bootstrap
	// (executors/bootstrap) writes these into kubeadm's configuration.
	DefaultPodCIDR     = "100.96.0.0/11"
	DefaultServiceCIDR = "100.64.0.0/13"
)

var (
	// CSE 3.1's cluster name rule (_is_valid_cluster_name): this pattern, at most 25
	// characters. Python's $ also matches before a final newline, so CSE took "c1\n"; Go's
	// does not, and kaas refuses it.
	nameRE = regexp.MustCompile(`^[a-zA-Z][A-Za-z0-9-]*$`)
	// A CNI name or version is a token such as antrea or v1.14.0.
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

	// Pod and service blocks must be private: RFC 1918, and RFC 6598's shared address space,
	// where kaas's defaults live. IPv6 is refused: kaas's bootstrap builds single-stack IPv4
	// clusters on the nodes' IPv4 addresses, where an IPv6 block would leave pods unrouted.
	privateBlocks = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	}

	// sshKeyTypes are the key types accepted: what OpenSSH accepts by default, less DSA
	// (removed from OpenSSH) and certificates (which need options kaas does not write).
	sshKeyTypes = map[string]bool{
		ssh.KeyAlgoED25519: true, ssh.KeyAlgoSKED25519: true, ssh.KeyAlgoRSA: true,
		ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true, ssh.KeyAlgoECDSA521: true, ssh.KeyAlgoSKECDSA256: true,
	}
)

// ValidateSpec checks a create request: what CSE requires of native clusters, and what each
// value is. It returns the first problem, a *Rejection naming the field by its path in
// events.ClusterSpec (CSEName gives the payload's name).
func ValidateSpec(s events.ClusterSpec) error {
	if p := problems(s, false); len(p) > 0 {
		return p[0]
	}
	return nil
}

// ValidateValues checks the values a partial spec gives, as ValidateSpec does, without
// asking for what it leaves out (an empty name, a zero revision or control plane count):
// for a payload read before defaults and the current spec fill it in.
func ValidateValues(s events.ClusterSpec) error {
	if p := problems(s, true); len(p) > 0 {
		return p[0]
	}
	return nil
}

func bad(field, format string, args ...any) *Rejection {
	r := reject(events.CodeInvalidChange, format, args...)
	r.Field = field
	return r
}

// problems lists everything wrong with a spec, in the order of the payload; a partial spec
// may leave out what a create needs.
func problems(s events.ClusterSpec, partial bool) []*Rejection {
	var out []*Rejection
	add := func(r *Rejection) {
		if r != nil {
			out = append(out, r)
		}
	}
	required := !partial
	switch {
	case s.Name == "" && partial:
	case s.Name == "":
		add(bad("name", "cluster name is missing"))
	case len(s.Name) > MaxNameLength || !nameRE.MatchString(s.Name):
		add(bad("name", "Invalid cluster name '%s': it must start with a letter, contain only letters, digits and hyphens, and be at most %d characters",
			shown(s.Name), MaxNameLength))
	}
	add(vcdName("orgName", "organization name", s.OrgName, required))
	add(vcdName("vdc", "org VDC name", s.VDC, required))
	add(text("site", "site", s.Site, MaxSiteLength))
	add(vcdName("network", "org VDC network", s.Network, required))
	add(vcdName("template.name", "template name", s.Template.Name, required))
	if s.Template.Revision < 1 && (required || s.Template.Revision != 0) {
		add(bad("template.revision", "template revision must be 1 or more, not %d", s.Template.Revision))
	}
	if s.ControlPlane.Count != 1 && (required || s.ControlPlane.Count != 0) {
		add(bad("controlPlane.count", "native clusters have exactly one control plane node, not %d", s.ControlPlane.Count))
	}
	if s.Workers.Count < 0 || s.Workers.Count > MaxWorkers {
		add(bad("workers.count", "worker count must be between 0 and %d, not %d", MaxWorkers, s.Workers.Count))
	}
	if s.NFS.Count < 0 || s.NFS.Count > MaxWorkers {
		add(bad("nfs.count", "NFS node count must be between 0 and %d, not %d", MaxWorkers, s.NFS.Count))
	}
	for _, p := range []struct {
		name string
		pool events.NodePool
	}{{"controlPlane", s.ControlPlane}, {"workers", s.Workers}, {"nfs", s.NFS}} {
		out = append(out, poolProblems(p.name, p.pool)...)
	}
	add(checkSSHKey(s.SSHKey))
	pods, r := checkCIDRs("podCidrs", "pod", s.PodCIDRs, DefaultPodCIDR, MinPodPrefix, MaxPodPrefix)
	add(r)
	services, r := checkCIDRs("serviceCidrs", "service", s.ServiceCIDRs, DefaultServiceCIDR, MinServicePrefix, MaxServicePrefix)
	add(r)
	if pods.given || services.given {
		if pods.prefix.IsValid() && services.prefix.IsValid() && pods.prefix.Overlaps(services.prefix) {
			blamed := services
			if !services.given {
				blamed = pods
			}
			add(bad(blamed.field, "the pod block %s and the service block %s overlap: pods and services need blocks of their own",
				pods.describe(), services.describe()))
		}
	}
	if s.CNI.Name != "" && !tokenRE.MatchString(s.CNI.Name) {
		add(bad("cni.name", "CNI name %s is not a name such as antrea", quoted(s.CNI.Name)))
	}
	if s.CNI.Version != "" && !tokenRE.MatchString(s.CNI.Version) {
		add(bad("cni.version", "CNI version %s is not a version such as 1.14.0", quoted(s.CNI.Version)))
	}
	return out
}

// poolProblems checks a pool's sizing: a sizing class or CPU and memory, each in bounds.
func poolProblems(name string, p events.NodePool) []*Rejection {
	var out []*Rejection
	add := func(r *Rejection) {
		if r != nil {
			out = append(out, r)
		}
	}
	add(vcdName(name+".sizingClass", "sizing class", p.SizingClass, false))
	add(vcdName(name+".storageProfile", "storage profile", p.StorageProfile, false))
	switch {
	case name == "nfs" && (p.CPU != 0 || p.MemoryMB != 0):
		add(bad(name, "NFS nodes are sized by sizingClass only, not cpu or memory"))
		return out
	case p.SizingClass != "" && (p.CPU != 0 || p.MemoryMB != 0):
		// The VM sizing policy decides CPU and memory; kaas does not second-guess it.
		add(bad(name, "give either sizingClass or cpu and memory, not both"))
	}
	minCPU, minMem := MinCPU, MinMemoryMB
	if name == "controlPlane" {
		minCPU, minMem = MinControlPlaneCPU, MinControlPlaneMemoryMB
	}
	if p.CPU != 0 && (p.CPU < minCPU || p.CPU > MaxCPU) {
		add(bad(name+".cpu", "cpu must be between %d and %d, not %d", minCPU, MaxCPU, p.CPU))
	}
	if p.MemoryMB != 0 && (p.MemoryMB < minMem || p.MemoryMB > MaxMemoryMB) {
		add(bad(name+".memoryMb", "memory must be between %d and %d MB, not %d", minMem, MaxMemoryMB, p.MemoryMB))
	}
	return out
}

// vcdName checks a name kaas looks up in VCD: present when required, at most
// MaxVCDNameLength characters, printable, without white space at either end.
func vcdName(field, what, s string, required bool) *Rejection {
	if s == "" {
		if required {
			return bad(field, "%s is missing", what)
		}
		return nil
	}
	if r := text(field, what, s, MaxVCDNameLength); r != nil {
		return r
	}
	if strings.TrimSpace(s) != s {
		return bad(field, "%s %s begins or ends with white space", what, quoted(s))
	}
	return nil
}

// text checks a value that is shown or looked up, never interpreted: valid UTF-8, at most
// max characters, and nothing but printable characters (no line breaks, control or
// invisible formatting characters).
func text(field, what, s string, max int) *Rejection {
	if !utf8.ValidString(s) {
		return bad(field, "%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return bad(field, "%s is %d characters long; at most %d are allowed", what, n, max)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return bad(field, "%s %s holds a control or invisible character (%U) at byte %d", what, quoted(s), r, i)
		}
	}
	return nil
}

// checkSSHKey accepts one authorized_keys line: a key of an accepted type and an optional
// comment, without options, in printable ASCII.
func checkSSHKey(key string) *Rejection {
	const field = "sshKey"
	if key == "" {
		return nil
	}
	if len(key) > MaxSSHKeyLength {
		return bad(field, "the SSH key is %d bytes long; at most %d are allowed", len(key), MaxSSHKeyLength)
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c > 0x7e {
			what := "a control character"
			switch {
			case c == '\n' || c == '\r':
				what = "a line break"
			case c > 0x7e:
				what = "a character that is not printable ASCII"
			}
			return bad(field, "the SSH key must be one authorized_keys line in printable ASCII: it holds %s at byte %d", what, i)
		}
	}
	if strings.TrimSpace(key) != key {
		return bad(field, "the SSH key begins or ends with white space")
	}
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(key))
	switch {
	case err != nil:
		return bad(field, "the SSH key is not a public key in authorized_keys form (such as ssh-ed25519 AAAA... user@host): %v", err)
	case len(options) > 0:
		return bad(field, "the SSH key must not carry authorized_keys options (%s): give the key alone", strings.Join(options, ","))
	case len(rest) > 0:
		return bad(field, "the SSH key must be one line")
	}
	typ, _, _ := strings.Cut(key, " ")
	if typ != pub.Type() || !sshKeyTypes[typ] {
		return bad(field, "SSH keys of type %s are not accepted: use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of %d bits or more",
			quoted(typ), MinRSABits)
	}
	if ck, ok := pub.(ssh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
			return bad(field, "the RSA key has %d bits; at least %d are needed", rk.N.BitLen(), MinRSABits)
		}
	}
	return nil
}

// block is a pod or service block as a cluster gets it: the tenant's, or the default.
type block struct {
	field  string // what to blame: the block given, or the list when the default applies
	prefix netip.Prefix
	given  bool
}

func (b block) describe() string {
	if b.given {
		return b.prefix.String()
	}
	return b.prefix.String() + " (the default)"
}

// checkCIDRs checks a pod or service block list: at most one block (kaas's bootstrap uses
// one; more would be ignored, which a tenant would not expect), in canonical form, IPv4,
// private, with a prefix length within bounds. It returns the block the cluster gets.
func checkCIDRs(field, what string, blocks []string, def string, minBits, maxBits int) (block, *Rejection) {
	if len(blocks) == 0 {
		return block{field: field, prefix: netip.MustParsePrefix(def)}, nil
	}
	if len(blocks) > 1 {
		return block{}, bad(field, "give at most one %s block, not %d: a cluster uses one", what, len(blocks))
	}
	f := field + "[0]"
	s := blocks[0]
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return block{}, bad(f, "%s is not a CIDR block such as %s", quoted(s), def)
	case !p.Addr().Is4():
		return block{}, bad(f, "%s is not an IPv4 block: kaas builds IPv4 clusters", quoted(s))
	case p.Masked() != p || p.String() != s:
		return block{}, bad(f, "%s is not in canonical form: write %s", quoted(s), p.Masked())
	case p.Bits() < minBits || p.Bits() > maxBits:
		return block{}, bad(f, "the %s block %s has a /%d prefix; use a prefix between /%d and /%d", what, s, p.Bits(), minBits, maxBits)
	case !private(p):
		return block{}, bad(f, "the %s block %s is not private: use one within 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10", what, s)
	}
	return block{field: f, prefix: p, given: true}, nil
}

func private(p netip.Prefix) bool {
	for _, r := range privateBlocks {
		if p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// ValidateNetwork checks a create request against the networks of its org VDC, as VCD last
// listed them: the network must be one of them, and the pod and service blocks (the
// defaults included) must not overlap the network the nodes are on.
func ValidateNetwork(s events.ClusterSpec, nets []events.Network) error {
	var node *events.Network
	names := make([]string, 0, len(nets))
	for i, n := range nets {
		names = append(names, quoted(n.Name))
		if n.Name == s.Network {
			node = &nets[i]
		}
	}
	if node == nil {
		r := reject(events.CodeNetworkNotFound, "org VDC '%s' has no network %s (it has: %s)", shown(s.VDC), quoted(s.Network), strings.Join(names, ", "))
		r.Field = "network"
		return r
	}
	pods, r := checkCIDRs("podCidrs", "pod", s.PodCIDRs, DefaultPodCIDR, MinPodPrefix, MaxPodPrefix)
	if r != nil {
		return r
	}
	services, r := checkCIDRs("serviceCidrs", "service", s.ServiceCIDRs, DefaultServiceCIDR, MinServicePrefix, MaxServicePrefix)
	if r != nil {
		return r
	}
	for _, c := range node.CIDRs {
		subnet, err := netip.ParsePrefix(c)
		if err != nil {
			continue // VCD said something kaas cannot read: nothing to compare with
		}
		for _, b := range []block{pods, services} {
			if b.prefix.Overlaps(subnet) {
				return bad(b.field, "the block %s overlaps network %s's subnet %s, where the nodes get their addresses: choose a block outside it",
					b.describe(), quoted(node.Name), subnet)
			}
		}
	}
	return nil
}

// quoted shows a tenant's value in a message: quoted, escapes for anything unprintable,
// cut short when long.
func quoted(s string) string { return strconv.QuoteToGraphic(cut(s)) }

// shown is quoted without the quotes, for messages that quote CSE's way.
func shown(s string) string { return escaped(cut(s)) }

// escaped writes s with escapes for anything unprintable, in full.
func escaped(s string) string {
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

func cut(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// Offers is what an org VDC offers its VMs, as VCD last listed it: its storage profiles
// and the VM sizing policies assigned to it. A list that is not Known was never read (a
// history from before kaas read them, or a sync that could not), and nothing is checked
// against it.
type Offers struct {
	StorageProfiles      []events.StorageProfile
	StorageProfilesKnown bool
	SizingPolicies       []events.SizingPolicy
	SizingPoliciesKnown  bool
}

// ValidateOffers checks the sizing classes and storage profiles of a spec's pools against
// what its org VDC offers, for the pools named (controlPlane, workers, nfs) that have
// nodes: a pool without nodes makes no VM. It returns a *Rejection naming the field.
func ValidateOffers(s events.ClusterSpec, o Offers, pools ...string) error {
	byName := map[string]events.NodePool{"controlPlane": s.ControlPlane, "workers": s.Workers, "nfs": s.NFS}
	for _, name := range pools {
		p := byName[name]
		if p.Count == 0 {
			continue
		}
		if p.SizingClass != "" && o.SizingPoliciesKnown &&
			!slices.ContainsFunc(o.SizingPolicies, func(sp events.SizingPolicy) bool { return sp.Name == p.SizingClass }) {
			names := make([]string, 0, len(o.SizingPolicies))
			for _, sp := range o.SizingPolicies {
				names = append(names, quoted(sp.Name))
			}
			r := reject(events.CodeSizingPolicyNotFound, "org VDC '%s' has no VM sizing policy %s (it has: %s)",
				shown(s.VDC), quoted(p.SizingClass), strings.Join(names, ", "))
			r.Field = name + ".sizingClass"
			return r
		}
		if p.StorageProfile != "" && o.StorageProfilesKnown &&
			!slices.ContainsFunc(o.StorageProfiles, func(sp events.StorageProfile) bool { return sp.Name == p.StorageProfile }) {
			names := make([]string, 0, len(o.StorageProfiles))
			for _, sp := range o.StorageProfiles {
				names = append(names, quoted(sp.Name))
			}
			r := reject(events.CodeStorageProfileNotFound, "org VDC '%s' has no storage profile %s (it has: %s)",
				shown(s.VDC), quoted(p.StorageProfile), strings.Join(names, ", "))
			r.Field = name + ".storageProfile"
			return r
		}
	}
	return nil
}
