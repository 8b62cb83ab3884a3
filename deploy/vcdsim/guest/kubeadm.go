package guest

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The kubeadm config APIs, and the kubeadm minor version that first reads each.
var kubeadmAPIs = map[string]int{"kubeadm.k8s.io/v1beta3": 22, "kubeadm.k8s.io/v1beta4": 31}

// kubeadmKinds are the kinds of kubeadm's own API group.
var kubeadmKinds = []string{"InitConfiguration", "ClusterConfiguration", "JoinConfiguration", "ResetConfiguration", "UpgradeConfiguration"}

// configDocs reads a kubeadm config file as kubeadm does: YAML documents, each with an
// apiVersion and a kind, each kind at most once; a document of another API group (the
// kubelet's, kube-proxy's) is not kubeadm's to check. installed is the node's kubeadm
// version, "" when unknown.
func configDocs(file, installed string) (map[string]object, error) {
	docs := map[string]object{}
	for _, text := range yamlDocuments(file) {
		if strings.TrimSpace(text) == "" {
			continue
		}
		doc, err := readYAML([]byte(text))
		if err != nil {
			return nil, err
		}
		api, err := doc.str("apiVersion")
		if err != nil {
			return nil, err
		}
		kind, err := doc.str("kind")
		if err != nil {
			return nil, err
		}
		if api == "" || kind == "" {
			return nil, errors.New("a document without an apiVersion and a kind")
		}
		group, _, _ := strings.Cut(api, "/")
		if group != "kubeadm.k8s.io" {
			continue
		}
		since, known := kubeadmAPIs[api]
		if !known {
			return nil, fmt.Errorf("kubeadm does not read %s", api)
		}
		if v, ok := parseVersion(installed); ok && v.minor < since {
			return nil, fmt.Errorf("kubeadm %s does not read %s", installed, api)
		}
		if !slices.Contains(kubeadmKinds, kind) {
			return nil, fmt.Errorf("%s has no kind %s", api, kind)
		}
		if _, twice := docs[kind]; twice {
			return nil, fmt.Errorf("%s is given twice", kind)
		}
		docs[kind] = doc
	}
	return docs, nil
}

// yamlDocuments splits a YAML stream at its document separators: lines of --- alone or
// followed by a comment, as kubeadm's reader does.
func yamlDocuments(stream string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.Lines(stream) {
		if rest, ok := strings.CutPrefix(line, "---"); ok {
			if r := strings.TrimSpace(rest); r == "" || strings.HasPrefix(r, "#") {
				docs = append(docs, cur.String())
				cur.Reset()
				continue
			}
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

// initConfig is what a control plane's kubeadm init made of its config.
type initConfig struct {
	clusterName string
}

// checkInit checks the config of `kubeadm init` on a host: an InitConfiguration whose
// node is the host, and a ClusterConfiguration with a Kubernetes version the node's
// kubeadm deploys and pod and service subnets kubeadm accepts.
func checkInit(file, hostname, installed string) (initConfig, error) {
	docs, err := configDocs(file, installed)
	if err != nil {
		return initConfig{}, err
	}
	ic, ok1 := docs["InitConfiguration"]
	cc, ok2 := docs["ClusterConfiguration"]
	if !ok1 || !ok2 {
		return initConfig{}, errors.New("kubeadm init needs an InitConfiguration and a ClusterConfiguration")
	}
	if err := checkNodeName(ic, hostname); err != nil {
		return initConfig{}, err
	}
	name, err := cc.str("clusterName")
	if err != nil {
		return initConfig{}, err
	}
	if name == "" {
		name = "kubernetes" // kubeadm's default
	}
	version, err := cc.str("kubernetesVersion")
	if err != nil {
		return initConfig{}, err
	}
	if !deploys(installed, version) {
		return initConfig{}, fmt.Errorf("kubeadm %s does not deploy Kubernetes %q", installed, version)
	}
	network, err := cc.obj("networking")
	if err != nil {
		return initConfig{}, err
	}
	for _, s := range []struct {
		key  string
		fits func(netip.Prefix) bool
	}{{"podSubnet", podSubnetFits}, {"serviceSubnet", serviceSubnetFits}} {
		v, err := network.str(s.key)
		if err != nil {
			return initConfig{}, err
		}
		if err := checkSubnets(v, s.fits); err != nil {
			return initConfig{}, fmt.Errorf("networking.%s: %w", s.key, err)
		}
	}
	return initConfig{clusterName: name}, nil
}

// checkJoin checks the config of `kubeadm join` on a host against the cluster it would
// join: a JoinConfiguration whose node is the host and whose bootstrap token discovery
// names the cluster's API server, its token, and its CA's hash. A cluster without a
// control plane has nothing to join. kubeadm would also join with the CA check skipped;
// kaas never asks for that, so here it fails like any join without the hash.
func checkJoin(file, hostname string, ca *authority) error {
	docs, err := configDocs(file, "")
	if err != nil {
		return err
	}
	jc, ok := docs["JoinConfiguration"]
	if !ok {
		return errors.New("kubeadm join needs a JoinConfiguration")
	}
	if err := checkNodeName(jc, hostname); err != nil {
		return err
	}
	discovery, err := jc.obj("discovery")
	if err != nil {
		return err
	}
	bt, err := discovery.obj("bootstrapToken")
	if err != nil {
		return err
	}
	endpoint, err1 := bt.str("apiServerEndpoint")
	token, err2 := bt.str("token")
	hashes, err3 := bt.strs("caCertHashes")
	tls, err4 := discovery.str("tlsBootstrapToken")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	switch {
	case ca == nil:
		return errors.New("the cluster has no control plane to join")
	case endpoint != ca.endpoint:
		return errors.New("discovery names another API server")
	case token != ca.token:
		return errors.New("the bootstrap token is not the cluster's")
	case !slices.Contains(hashes, ca.hash):
		return errors.New("no CA certificate hash is the cluster's CA's")
	case tls != "" && tls != ca.token:
		return errors.New("the TLS bootstrap token is not the cluster's")
	}
	return nil
}

// dns1123 is a lowercase RFC 1123 subdomain, what kubeadm takes as a node name.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// checkNodeName checks nodeRegistration.name: kubeadm defaults it to the host name, and
// the kubelet must register under the name the host has.
func checkNodeName(doc object, hostname string) error {
	reg, err := doc.obj("nodeRegistration")
	if err != nil {
		return err
	}
	name, err := reg.str("name")
	if err != nil {
		return err
	}
	if name == "" {
		name = hostname
	}
	if name == "" || name != hostname || len(name) > 253 || !dns1123.MatchString(name) {
		return errors.New("the node name is not the host's")
	}
	return nil
}

// checkSubnets reads a subnet setting as kubeadm does: one CIDR, or two of different
// families for dual stack, each of a size kubeadm takes.
func checkSubnets(s string, fits func(netip.Prefix) bool) error {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return errors.New("more than two subnets")
	}
	var families []bool
	for _, p := range parts {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR", p)
		}
		if !fits(prefix) {
			return fmt.Errorf("%s is of a size kubeadm refuses", prefix)
		}
		families = append(families, prefix.Addr().Is4())
	}
	if len(families) == 2 && families[0] == families[1] {
		return errors.New("two subnets of one family")
	}
	return nil
}

// podSubnetFits: the pod subnet holds the per-node subnets (/24 for IPv4, /64 for IPv6), at
// most 16 bits' worth of them.
func podSubnetFits(p netip.Prefix) bool {
	node := 24
	if !p.Addr().Is4() {
		node = 64
	}
	return p.Bits() <= node && node-p.Bits() <= 16
}

// serviceSubnetFits: the service subnet spans at most 20 bits.
func serviceSubnetFits(p netip.Prefix) bool {
	return p.Addr().BitLen()-p.Bits() <= 20
}

// version is a Kubernetes version, v1.30.4.
type version struct{ major, minor, patch int }

var versionRE = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)\.([0-9]+)([-+][0-9A-Za-z.+-]*)?$`)

func parseVersion(s string) (version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	var v version
	var err error
	for i, p := range []*int{&v.major, &v.minor, &v.patch} {
		if *p, err = strconv.Atoi(m[i+1]); err != nil {
			return version{}, false
		}
	}
	return v, true
}

// compareVersions orders two versions by major, minor and patch; one that does not parse
// is the same as any.
func compareVersions(a, b string) int {
	va, ok1 := parseVersion(a)
	vb, ok2 := parseVersion(b)
	if !ok1 || !ok2 {
		return 0
	}
	for _, d := range []int{va.major - vb.major, va.minor - vb.minor, va.patch - vb.patch} {
		if d != 0 {
			return d
		}
	}
	return 0
}

// deploys reports whether a node's kubeadm (installed, "" when unknown) deploys a control
// plane of a version: its own minor or the one before, as kubeadm allows; the template
// holds no other images.
func deploys(installed, want string) bool {
	w, ok := parseVersion(want)
	if !ok {
		return false
	}
	have, ok := parseVersion(installed)
	if !ok {
		return true
	}
	return w.major == have.major && (w.minor == have.minor || w.minor == have.minor-1)
}

// upgradable reports whether kubeadm upgrades a node running one version to another: no
// downgrade, no minor version skipped.
func upgradable(from, to string) bool {
	t, ok := parseVersion(to)
	if !ok {
		return false
	}
	f, ok := parseVersion(from)
	if !ok {
		return true
	}
	return t.major == f.major && compareVersions(to, from) >= 0 && t.minor <= f.minor+1
}

// newerMinor reports whether version a is of a later minor than b; false when either does
// not parse.
func newerMinor(a, b string) bool {
	va, ok1 := parseVersion(a)
	vb, ok2 := parseVersion(b)
	return ok1 && ok2 && (va.major > vb.major || va.major == vb.major && va.minor > vb.minor)
}
