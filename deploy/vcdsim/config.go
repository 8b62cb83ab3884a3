package vcdsim

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config describes the simulated cloud.
type Config struct {
	// Orgs are the tenant organizations; the System org is always there.
	Orgs []OrgConfig `json:"orgs"`
	// Providers are the System org's users.
	Providers []UserConfig `json:"providers"`
	// Catalog is the provider catalog of Kubernetes templates, shared with every org.
	Catalog CatalogConfig `json:"catalog"`
	// TaskDelay is how long a task (compose, recompose, power, delete, reconfigure) runs.
	TaskDelay Duration `json:"taskDelay"`
	// BootDelay is how long a node's bootstrap, or a template build, takes after power on.
	BootDelay Duration `json:"bootDelay"`
	// AMQPURL is the broker VCD publishes API-extension calls to.
	AMQPURL string `json:"amqpUrl"`
	// ExtensionTimeout is how long a call to an extension waits for its reply (VCD's
	// extensibility.timeout).
	ExtensionTimeout Duration `json:"extensionTimeout"`
	// Faults are injected from the start; /sim/faults changes them at run time.
	Faults Faults `json:"faults"`
	// SizingPolicies are the provider's VM sizing policies (VCD's VDC compute policies
	// that size VMs); each org VDC is assigned some of them by name (VDCConfig).
	SizingPolicies []SizingPolicyConfig `json:"sizingPolicies,omitempty"`
	// MaxAPIVersion is the highest API version this VCD offers (/api/versions lists the
	// versions up to it): 38.1 (VCD 10.5.1) when empty; 36.0 plays VCD 10.3, 35.0 VCD 10.2.
	// Below 36.0 there are no defined-entity behaviors and no entity type hooks (they came
	// with VCD 10.3): their routes are not found and a type naming hooks is refused. Below
	// 37.0 the list still ends with 37.0, which go-vcloud-director v2.26.1 needs verbatim to
	// log in (vcd-api.md §6) and a real VCD 10.2 does not list: pyvcloud, which negotiates
	// 29.0–36.0, sees a VCD at MaxAPIVersion, and so do CSE's client and kaas.
	MaxAPIVersion string `json:"maxApiVersion,omitempty"`
	// Downloads are the simulated internet VCD downloads OVAs from (catalog uploads by
	// URL): each URL serves the OVA WriteOVA makes of its image. Empty: DefaultDownloads
	// (Ubuntu's cloud images). Any other URL fails the import as a 404 would.
	Downloads []DownloadConfig `json:"downloads,omitempty"`
	// Repository is what the simulated internet offers a template build's guest: the
	// Kubernetes and containerd packages of the apt repositories and the CNI manifests.
	// A list left empty is DefaultRepository's.
	Repository RepositoryConfig `json:"repository,omitzero"`
	// UploadTimeout is how long an upload through transfer links may receive nothing
	// before VCD gives up on it and fails its import, as VCD's transfer sessions expire;
	// 0 is 5 minutes.
	UploadTimeout Duration `json:"uploadTimeout,omitempty"`
}

// DownloadConfig is an OVA the simulated internet serves.
type DownloadConfig struct {
	URL   string    `json:"url"`
	Image BaseImage `json:"image"`
}

// RepositoryConfig is what a build's guest can install: versions as a recipe names them.
type RepositoryConfig struct {
	// KubernetesVersions are the versions pkgs.k8s.io has kubeadm, kubelet and kubectl
	// packages of (v1.30.4).
	KubernetesVersions []string `json:"kubernetesVersions,omitempty"`
	// ContainerdVersions are the containerd.io package versions of Docker's apt
	// repository (1.7.20).
	ContainerdVersions []string `json:"containerdVersions,omitempty"`
	// CNIManifests are the URLs a CNI manifest downloads from.
	CNIManifests []string `json:"cniManifests,omitempty"`
}

// DefaultDownloads are Ubuntu's cloud image OVAs of 20.04, 22.04 and 24.04.
func DefaultDownloads() []DownloadConfig {
	var out []DownloadConfig
	for _, v := range []string{"20.04", "22.04", "24.04"} {
		out = append(out, DownloadConfig{URL: "https://cloud-images.ubuntu.com/releases/" + v + "/release/ubuntu-" + v + "-server-cloudimg-amd64.ova",
			Image: BaseImage{OS: "ubuntu-" + v}})
	}
	return out
}

// DefaultRepository offers Kubernetes v1.28.0–v1.28.15, v1.29.0–v1.29.15,
// v1.30.0–v1.30.14 and v1.31.0–v1.31.14; containerd 1.7.0–1.7.27; the Antrea manifests of
// 1.14.0–1.14.4, 1.15.0–1.15.2 and 1.16.0 (GitHub release downloads) and Calico's of
// 3.28.0–3.28.2 (raw.githubusercontent.com, as Calico's documentation has them).
func DefaultRepository() RepositoryConfig {
	var r RepositoryConfig
	for minor, last := range map[int]int{28: 15, 29: 15, 30: 14, 31: 14} {
		for p := 0; p <= last; p++ {
			r.KubernetesVersions = append(r.KubernetesVersions, fmt.Sprintf("v1.%d.%d", minor, p))
		}
	}
	slices.SortFunc(r.KubernetesVersions, compareVersions)
	for p := 0; p <= 27; p++ {
		r.ContainerdVersions = append(r.ContainerdVersions, fmt.Sprintf("1.7.%d", p))
	}
	for _, v := range []string{"1.14.0", "1.14.1", "1.14.2", "1.14.3", "1.14.4", "1.15.0", "1.15.1", "1.15.2", "1.16.0"} {
		r.CNIManifests = append(r.CNIManifests, "https://github.com/antrea-io/antrea/releases/download/v"+v+"/antrea.yml")
	}
	for _, v := range []string{"3.28.0", "3.28.1", "3.28.2"} {
		r.CNIManifests = append(r.CNIManifests, "https://raw.githubusercontent.com/projectcalico/calico/v"+v+"/manifests/calico.yaml")
	}
	return r
}

// compareVersions orders v1.2.3 versions by number.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// resolved fills what the configuration leaves to the defaults.
func (r RepositoryConfig) resolved() RepositoryConfig {
	d := DefaultRepository()
	if len(r.KubernetesVersions) == 0 {
		r.KubernetesVersions = d.KubernetesVersions
	}
	if len(r.ContainerdVersions) == 0 {
		r.ContainerdVersions = d.ContainerdVersions
	}
	if len(r.CNIManifests) == 0 {
		r.CNIManifests = d.CNIManifests
	}
	return r
}

// DefaultUploadTimeout is how long an upload may stall when Config.UploadTimeout is 0.
const DefaultUploadTimeout = 5 * time.Minute

// DefaultMaxAPIVersion is the highest API version offered when the configuration names none.
const DefaultMaxAPIVersion = "38.1"

// govcdVersion is the version go-vcloud-director v2.26.1 logs in at, and must find listed.
const govcdVersion = "37.0"

// offeredVersions are the API versions /api/versions lists, ascending.
func (c Config) offeredVersions() ([]string, error) {
	max := c.MaxAPIVersion
	if max == "" {
		max = DefaultMaxAPIVersion
	}
	i := slices.Index(apiVersions, max)
	if i < 0 {
		return nil, fmt.Errorf("vcdsim: maxApiVersion %q is none of %s", max, strings.Join(apiVersions, ", "))
	}
	out := slices.Clone(apiVersions[:i+1])
	if !slices.Contains(out, govcdVersion) {
		out = append(out, govcdVersion)
	}
	return out, nil
}

// OrgConfig is a tenant organization.
type OrgConfig struct {
	Name string `json:"name"`
	// ID is the org's id, a UUID (or its URN, urn:vcloud:org:<uuid>), for a test whose
	// callers name their org by a URN of their own; empty: the one OrgURN derives from the
	// name.
	ID    string       `json:"id,omitempty"`
	VDCs  []VDCConfig  `json:"vdcs"`
	Users []UserConfig `json:"users"`
}

// VDCConfig is an org VDC.
type VDCConfig struct {
	Name     string          `json:"name"`
	Networks []NetworkConfig `json:"networks"`
	// MaxVMs is the VDC's VM quota; 0 means none.
	MaxVMs int `json:"maxVMs,omitempty"`
	// StorageProfiles are the VDC's storage profiles. One is the default, where a VM goes
	// when it names none: the one marked so, else the first. A VDC configured with none
	// has one, "*" (VCD always gives a VDC one).
	StorageProfiles []StorageProfileConfig `json:"storageProfiles,omitempty"`
	// SizingPolicies names the provider's sizing policies (Config.SizingPolicies) assigned
	// to the VDC. Every VDC also has its own "System Default" policy, which sizes nothing
	// and is what a VM that names no policy gets, as in VCD.
	SizingPolicies []string `json:"sizingPolicies,omitempty"`
}

// StorageProfileConfig is an org VDC storage profile.
type StorageProfileConfig struct {
	Name    string `json:"name"`
	Default bool   `json:"default,omitempty"`
	// Disabled profiles are listed but take no new VMs, as in VCD.
	Disabled bool `json:"disabled,omitempty"`
}

// SizingPolicyConfig is a VM sizing policy: what it fixes of a VM's hardware. A value left
// at 0 is not fixed: the VM keeps its template's, and may be reconfigured.
type SizingPolicyConfig struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	CPU         int    `json:"cpu,omitempty"`
	// CoresPerSocket is fixed with CPU; 0 is 1.
	CoresPerSocket int `json:"coresPerSocket,omitempty"`
	MemoryMB       int `json:"memoryMb,omitempty"`
}

// NetworkConfig is an org VDC network with a static IP pool.
type NetworkConfig struct {
	Name    string `json:"name"`
	Gateway string `json:"gateway"`
	// Pool is the first three octets the pool hands out addresses in, e.g. "10.1.0".
	Pool string `json:"pool"`
}

// UserConfig is a user.
type UserConfig struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Token    string `json:"token,omitempty"` // an API token
	// Rights are the names of the rights the user's role holds. VCD grants those that exist
	// (built in, or made with an entity type) and, for a tenant, are in a bundle published
	// to its org; they decide what it may do with defined entities, and their URNs go in
	// the security context of its calls to extensions.
	Rights []string `json:"rights,omitempty"`
	// Role is the user's VCD role, as sessions show it. Empty: System Administrator in the
	// System org, Organization Administrator in a tenant org. Organization administrators
	// read every task of their org; other tenant users only their own.
	Role string `json:"role,omitempty"`
}

// CatalogConfig is the template catalog.
type CatalogConfig struct {
	Name      string           `json:"name"`
	Templates []TemplateConfig `json:"templates"`
}

// TemplateConfig is a Kubernetes template and what its catalog item metadata says.
type TemplateConfig struct {
	Name              string `json:"name"`
	Revision          int    `json:"revision"`
	KubernetesVersion string `json:"kubernetesVersion"`
	OS                string `json:"os"`
	CNI               string `json:"cni"`
	CNIVersion        string `json:"cniVersion"`
	Deprecated        bool   `json:"deprecated,omitempty"`
	// FailAt makes every node's bootstrap fail at this step; "never" makes it hang.
	FailAt string `json:"failAt,omitempty"`
	// CPU and MemoryMB are the template VM's hardware, which a VM made from it starts
	// with; 0 is 2 CPUs and 4096 MB.
	CPU      int `json:"cpu,omitempty"`
	MemoryMB int `json:"memoryMb,omitempty"`
}

// Faults are errors and delays injected on purpose.
type Faults struct {
	// ErrorRate is the chance (0..1) that a mutating call fails with VCD's busy-entity
	// refusal; Errors overrides it per operation (compose, recompose, power, delete,
	// reconfigure, metadata, query, get).
	ErrorRate float64            `json:"errorRate,omitempty"`
	Errors    map[string]float64 `json:"errors,omitempty"`
	// Latency delays calls, per operation.
	Latency map[string]Duration `json:"latency,omitempty"`
	// TaskFailureRate is the chance that a task ends in error.
	TaskFailureRate float64 `json:"taskFailureRate,omitempty"`
	// NeverBoot makes every guest hang at boot.
	NeverBoot bool `json:"neverBoot,omitempty"`
	// BootDelay, when set, overrides the configured boot delay (a slow guest).
	BootDelay Duration `json:"bootDelay,omitempty"`
	// Targeted are deterministic faults aimed at chosen tasks and guests, so that a test
	// can fail, or hold, one step of one cluster while others run undisturbed.
	Targeted []Targeted `json:"targeted,omitempty"`
}

// Targeted is a deterministic fault. It hits the tasks (or guest bootstraps) that match
// all of VApp, Role and Op, in the order they start, until Count of them were hit; GET
// /sim/faults shows what is left of it.
type Targeted struct {
	// VApp is the name of the vApp whose tasks and VMs are hit (kaas names a cluster's vApp
	// after the cluster); empty: every vApp.
	VApp string `json:"vapp,omitempty"`
	// Role limits the fault to VMs of a role (control-plane, worker, nfs: a VM's
	// kaas.node.role metadata, else its name's prefix mstr, node, nfsd), including the
	// recompose that adds or removes such a VM; empty: the vApp's own tasks and every VM's.
	Role string `json:"role,omitempty"`
	// Op is what is hit: a task of an operation as Errors names them (compose, recompose,
	// power, delete, reconfigure, metadata) or as VCD's tasks name them (vdcComposeVapp,
	// vdcRecomposeVapp, vappDeploy, vappUndeploy, vdcDeleteVapp, vappDeleteVm,
	// vappUpdateVm, metadataUpdate, ...); upload (the import of an uploaded or downloaded OVA: vdcUploadOvfContents), capture
	// (a vApp captured into the catalog: vdcCaptureTemplate; VApp names the vApp captured);
	// or boot: the guest bootstrap, or template build, of a VM powered on.
	Op string `json:"op"`
	// Count is how many tasks or boots are hit before the fault is used up and removed;
	// 0 hits every one, for as long as the fault is set.
	Count int `json:"count,omitempty"`
	// FailStatus makes a hit task end in error with this HTTP status as its major error
	// code: a 5xx is a failure kaas retries, a 4xx one it does not. 0: the task succeeds.
	FailStatus int `json:"failStatus,omitempty"`
	// Delay makes a hit task run this long instead of TaskDelay, or a hit boot take this
	// long instead of BootDelay: a step that is still in progress when a test looks.
	Delay Duration `json:"delay,omitempty"`
	// FailAt makes a hit boot fail at this bootstrap step (kubeadm-init, kubeadm-join, …)
	// or template build step (prepare, containerd, kubernetes, images, cni, script:<name>,
	// cleanup); "never" makes it hang.
	FailAt string `json:"failAt,omitempty"`
	// HangAt makes a hit boot stop at this bootstrap or build step for ever: it reports
	// running:<step> and goes no further.
	HangAt string `json:"hangAt,omitempty"`
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration time.Duration

// MarshalJSON writes "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "2s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration %s: use a string such as \"2s\"", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default is a small cloud for local runs and tests: a provider, one org with a VDC (a
// network, storage profiles Silver and Gold, sizing policies small and medium), two users,
// and templates for two Kubernetes minors plus one whose bootstrap fails.
func Default() Config {
	return Config{
		Providers: []UserConfig{{Name: "administrator", Password: "kaas-admin", Token: "kaas-provider-api-token"}},
		Orgs: []OrgConfig{{
			Name: "acme",
			VDCs: []VDCConfig{{Name: "acme-vdc", Networks: []NetworkConfig{{Name: "acme-net", Gateway: "10.1.0.1", Pool: "10.1"}},
				StorageProfiles: []StorageProfileConfig{{Name: "Silver", Default: true}, {Name: "Gold"}},
				SizingPolicies:  []string{"small", "medium"}}},
			Users: []UserConfig{
				{Name: "alice", Password: "alice-pass", Token: "alice-api-token",
					Rights: []string{"cse:nativeCluster: Full Access", "cse:nativeCluster: View"}},
				{Name: "bob", Password: "bob-pass", Rights: []string{"cse:nativeCluster: View"}},
			},
		}},
		Catalog: CatalogConfig{Name: "kaas-templates", Templates: []TemplateConfig{
			{Name: "ubuntu-22.04_k8s-1.29_antrea-1.14", Revision: 1, KubernetesVersion: "v1.29.8", OS: "ubuntu-22.04", CNI: "antrea", CNIVersion: "1.14.0"},
			{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", Revision: 1, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04", CNI: "antrea", CNIVersion: "1.15.1"},
			{Name: "ubuntu-22.04_k8s-1.30_broken", Revision: 1, KubernetesVersion: "v1.30.4", OS: "ubuntu-22.04", CNI: "antrea", CNIVersion: "1.15.1", FailAt: "kubeadm-init"},
		}},
		// large is the provider's, but no VDC of acme's is assigned it.
		SizingPolicies: []SizingPolicyConfig{
			{Name: "small", Description: "2 vCPU, 2 GB", CPU: 2, MemoryMB: 2048},
			{Name: "medium", Description: "2 vCPU, 4 GB", CPU: 2, MemoryMB: 4096},
			{Name: "large", Description: "4 vCPU, 8 GB", CPU: 4, MemoryMB: 8192},
		},
		TaskDelay:        Duration(500 * time.Millisecond),
		BootDelay:        Duration(2 * time.Second),
		AMQPURL:          "amqp://guest:guest@127.0.0.1:5672/",
		ExtensionTimeout: Duration(10 * time.Second),
	}
}

// LoadConfig reads a JSON configuration, starting from Default for anything it leaves out
// at the top level.
func LoadConfig(path string) (Config, error) {
	cfg := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("vcdsim config %s: %w", path, err)
	}
	return cfg, nil
}
