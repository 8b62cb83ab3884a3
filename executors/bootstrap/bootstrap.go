// Package bootstrap renders the cloud-init user data that turns a provider's template VM
// into a Kubernetes node: kubeadm init on the control plane, kubeadm join on workers, an
// NFS server on NFS nodes. Each step reports its progress through guestinfo (see the
// Guest* keys in package executors), which is how kaas follows a node without vCenter.
//
// Every value is data (architecture.md §3.12): the user data is built as Go values and
// written by a YAML encoder, the kubeadm settings go to kubeadm config files written by
// the same encoder, the scripts hold no tenant value, and the one provider value a script
// names (the CNI manifest) is shell-quoted. A tenant's ssh key or CIDR, whatever it holds,
// ends up as one YAML string and cannot add a key, a file or a command.
package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/kaasproject/kaas/events/cluster"
)

// Params are what a node's bootstrap needs to know.
type Params struct {
	ClusterName       string
	ClusterID         string
	NodeName          string
	KubernetesVersion string
	PodCIDR           string
	ServiceCIDR       string
	CNI               string
	CNIVersion        string
	SSHKey            string
	// JoinCommand is the control plane's kubeadm join command: a secret, for workers only.
	// It is parsed (ParseJoin) and only its parts reach the worker.
	JoinCommand string
}

// Paths on the node. The kubeadm config of a worker holds the join token: the bootstrap
// removes it when it ends.
const (
	ReportPath        = "/usr/local/sbin/kaas-report"
	BootstrapPath     = "/usr/local/sbin/kaas-bootstrap"
	KubeadmConfigPath = "/etc/kaas/kubeadm.yaml"
)

// Defaults when the tenant names no CIDR (CSE's): the aggregate's, which it checks a
// tenant's blocks against.
const (
	DefaultPodCIDR     = cluster.DefaultPodCIDR
	DefaultServiceCIDR = cluster.DefaultServiceCIDR
)

// cloudConfig is the part of cloud-init's cloud-config that kaas uses; fields are in the
// order they are written.
type cloudConfig struct {
	Hostname          quoted   `yaml:"hostname"`
	SSHAuthorizedKeys []quoted `yaml:"ssh_authorized_keys,omitempty"`
	WriteFiles        []file   `yaml:"write_files"`
	RunCmd            []argv   `yaml:"runcmd"`
}

type file struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

// argv is a runcmd entry as a list: cloud-init runs it without a shell.
type argv []string

// MarshalYAML writes the list in flow style, [/path/to/cmd, arg], as people write runcmd.
func (a argv) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range a {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
	}
	return n, nil
}

// quoted is a value written as a double-quoted YAML string, which every YAML version
// reads as that string: a plain scalar would be typed by its text, and YAML 1.1 (PyYAML in
// cloud-init, kubeadm's decoder) reads more kinds than YAML 1.2 (the encoder's): "no" is
// false there, and PyYAML refuses a bare "=".
type quoted string

// MarshalYAML writes q double-quoted; the encoder escapes what needs it.
func (q quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Tag: "!!str", Value: string(q)}, nil
}

var (
	nodeNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	clusterIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	versionRE   = regexp.MustCompile(`^v1\.([0-9]{1,3})\.[0-9]{1,4}([-+][0-9A-Za-z.-]+)*$`)
)

var headers = map[string]string{"control-plane": "control plane", "worker": "worker", "nfs": "NFS node"}

// Render returns the cloud-init user data for a node of the role.
//
// kaas makes the node name and the cluster id, so Render refuses them unless they are a
// DNS label and a UUID (they name the host and the header comment). The tenant's values
// (cluster name, ssh key, CIDRs) are not judged here, only encoded: checking them is the
// ingress's work, and kubeadm on the node refuses a CIDR that is not one.
func Render(role string, p Params) (string, error) {
	ud, err := render(role, p)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return ud, nil
}

func render(role string, p Params) (string, error) {
	header, ok := headers[role]
	if !ok {
		return "", fmt.Errorf("no bootstrap for role %q", role)
	}
	for _, s := range []string{p.ClusterName, p.ClusterID, p.NodeName, p.KubernetesVersion, p.PodCIDR, p.ServiceCIDR,
		p.CNI, p.CNIVersion, p.SSHKey, p.JoinCommand} {
		if !utf8.ValidString(s) {
			return "", errors.New("a value is not UTF-8 text")
		}
	}
	if !nodeNameRE.MatchString(p.NodeName) {
		return "", errors.New("the node name is not a DNS label")
	}
	if !clusterIDRE.MatchString(p.ClusterID) {
		return "", errors.New("the cluster id is not a UUID")
	}
	if p.PodCIDR == "" {
		p.PodCIDR = DefaultPodCIDR
	}
	if p.ServiceCIDR == "" {
		p.ServiceCIDR = DefaultServiceCIDR
	}
	files := []file{{Path: ReportPath, Permissions: "0755", Content: reportScript}}
	switch role {
	case "control-plane":
		kubeadm, err := initConfig(p)
		if err != nil {
			return "", err
		}
		manifest, err := shellQuote("/opt/kaas/cni/" + p.CNI + "-" + p.CNIVersion + ".yaml")
		if err != nil {
			return "", fmt.Errorf("CNI manifest: %w", err)
		}
		files = append(files, file{Path: KubeadmConfigPath, Permissions: "0600", Content: kubeadm},
			file{Path: BootstrapPath, Permissions: "0755", Content: fmt.Sprintf(controlPlaneScript, manifest)})
	case "worker":
		if p.JoinCommand == "" {
			return "", errors.New("a worker needs the control plane's join command")
		}
		j, err := ParseJoin(p.JoinCommand)
		if err != nil {
			return "", err
		}
		kubeadm, err := joinConfig(p, j)
		if err != nil {
			return "", err
		}
		files = append(files, file{Path: KubeadmConfigPath, Permissions: "0600", Content: kubeadm},
			file{Path: BootstrapPath, Permissions: "0755", Content: workerScript})
	case "nfs":
		files = append(files, file{Path: BootstrapPath, Permissions: "0755", Content: nfsScript})
	}
	cc := cloudConfig{Hostname: quoted(p.NodeName), WriteFiles: files, RunCmd: []argv{{BootstrapPath}}}
	if p.SSHKey != "" {
		cc.SSHAuthorizedKeys = []quoted{quoted(p.SSHKey)}
	}
	// The header holds only what kaas made and checked above.
	b := bytes.NewBufferString(fmt.Sprintf("#cloud-config\n# kaas %s bootstrap for cluster %s, node %s.\n", header, p.ClusterID, p.NodeName))
	if err := encode(b, cc); err != nil {
		return "", err
	}
	return b.String(), nil
}

// encode writes the documents as YAML, indented by two like cloud-init's examples.
func encode(b *bytes.Buffer, docs ...any) error {
	enc := yaml.NewEncoder(b)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode YAML: %w", err)
	}
	return nil
}

// kubeadmAPI picks the kubeadm config API the node's kubeadm reads: v1beta3 for
// Kubernetes 1.22 to 1.30 (the templates kaas ships, 1.29 and 1.30, know no other;
// v1beta4 arrived in 1.31), v1beta4 from 1.31 on (where v1beta3 is deprecated). The
// fields kaas sets are the same in both.
func kubeadmAPI(version string) (string, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return "", errors.New("the template's Kubernetes version is not of the form v1.MINOR.PATCH")
	}
	minor, _ := strconv.Atoi(m[1])
	switch {
	case minor < 22:
		return "", fmt.Errorf("Kubernetes 1.%d is older than kaas bootstraps (1.22)", minor)
	case minor <= 30:
		return "kubeadm.k8s.io/v1beta3", nil
	}
	return "kubeadm.k8s.io/v1beta4", nil
}

type nodeRegistration struct {
	Name quoted `yaml:"name"`
}

type initConfiguration struct {
	APIVersion       string           `yaml:"apiVersion"`
	Kind             string           `yaml:"kind"`
	NodeRegistration nodeRegistration `yaml:"nodeRegistration"`
}

type clusterConfiguration struct {
	APIVersion        string     `yaml:"apiVersion"`
	Kind              string     `yaml:"kind"`
	ClusterName       quoted     `yaml:"clusterName,omitempty"`
	KubernetesVersion quoted     `yaml:"kubernetesVersion"`
	Networking        networking `yaml:"networking"`
}

type networking struct {
	PodSubnet     quoted `yaml:"podSubnet"`
	ServiceSubnet quoted `yaml:"serviceSubnet"`
}

type joinConfiguration struct {
	APIVersion       string           `yaml:"apiVersion"`
	Kind             string           `yaml:"kind"`
	Discovery        discovery        `yaml:"discovery"`
	NodeRegistration nodeRegistration `yaml:"nodeRegistration"`
}

type discovery struct {
	BootstrapToken bootstrapToken `yaml:"bootstrapToken"`
}

type bootstrapToken struct {
	APIServerEndpoint quoted   `yaml:"apiServerEndpoint"`
	Token             quoted   `yaml:"token"`
	CACertHashes      []quoted `yaml:"caCertHashes"`
}

// initConfig is the control plane's `kubeadm init --config` file.
func initConfig(p Params) (string, error) {
	api, err := kubeadmAPI(p.KubernetesVersion)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = encode(&b,
		initConfiguration{APIVersion: api, Kind: "InitConfiguration", NodeRegistration: nodeRegistration{Name: quoted(p.NodeName)}},
		clusterConfiguration{APIVersion: api, Kind: "ClusterConfiguration", ClusterName: quoted(p.ClusterName),
			KubernetesVersion: quoted(p.KubernetesVersion), Networking: networking{PodSubnet: quoted(p.PodCIDR), ServiceSubnet: quoted(p.ServiceCIDR)}})
	return b.String(), err
}

// joinConfig is a worker's `kubeadm join --config` file.
func joinConfig(p Params, j Join) (string, error) {
	api, err := kubeadmAPI(p.KubernetesVersion)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = encode(&b, joinConfiguration{APIVersion: api, Kind: "JoinConfiguration",
		Discovery: discovery{BootstrapToken: bootstrapToken{APIServerEndpoint: quoted(j.Endpoint), Token: quoted(j.Token),
			CACertHashes: []quoted{quoted(j.CACertHash)}}},
		NodeRegistration: nodeRegistration{Name: quoted(p.NodeName)}})
	return b.String(), err
}
