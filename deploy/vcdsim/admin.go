package vcdsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/deploy/vcdsim/guest"
)

// Inventory is every vApp and VM, for tests and people.
type Inventory struct {
	VApps []VAppInfo `json:"vapps"`
	// Catalog is the provider catalog's items, in the order they were made.
	Catalog []CatalogItemInfo `json:"catalog"`
}

// CatalogItemInfo describes a catalog item and its vApp template.
type CatalogItemInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Status is its vApp template's: 0 while its upload or capture runs, 8 ready, -1 failed.
	Status   int               `json:"status"`
	Metadata map[string]string `json:"metadata"`
	// VM is its VM's name; Kubernetes, Containerd and CNI what that VM has installed.
	VM         string `json:"vm"`
	Kubernetes string `json:"kubernetes,omitempty"`
	Containerd string `json:"containerd,omitempty"`
	CNI        string `json:"cni,omitempty"`
	// Task is the operation of its running import or capture task, if any.
	Task string `json:"task,omitempty"`
}

// VAppInfo describes a vApp.
type VAppInfo struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Org      string            `json:"org"`
	VDC      string            `json:"vdc"`
	Status   int               `json:"status"`
	Metadata map[string]string `json:"metadata"`
	VMs      []VMInfo          `json:"vms"`
	// Task is the operation of the task running on the vApp (vdcComposeVapp, …), if any.
	Task string `json:"task,omitempty"`
	// SharedWith is its sharing: "user=Level" per user, or "*=Level" for the whole org.
	SharedWith []string `json:"sharedWith,omitempty"`
}

// VMInfo describes a VM. Secrets in its extraConfig are shown by their length only.
type VMInfo struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Status    int               `json:"status"`
	IP        string            `json:"ip"`
	Metadata  map[string]string `json:"metadata"`
	GuestInfo map[string]string `json:"guestinfo"`
	// Task is the operation of the task running on the VM (vappDeploy, …), if any.
	Task string `json:"task,omitempty"`
	// SizingPolicy and StorageProfile name the VM's VM sizing policy and storage profile;
	// CPU, CoresPerSocket and MemoryMB are its hardware.
	SizingPolicy   string `json:"sizingPolicy"`
	StorageProfile string `json:"storageProfile"`
	CPU            int    `json:"cpu"`
	CoresPerSocket int    `json:"coresPerSocket"`
	MemoryMB       int    `json:"memoryMb"`
	// AuthorizedKeys are the SSH keys the guest's cloud-init installed from its user data.
	AuthorizedKeys []string `json:"authorizedKeys,omitempty"`
	// Kubernetes is the version its disk has installed (its template's, or a build's).
	Kubernetes string `json:"kubernetes,omitempty"`
}

var secretKeys = []string{guest.KeyKubeconfig, guest.KeyJoin, guest.KeyUserData}

// Inventory lists every vApp and VM.
func (s *Server) Inventory() Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	inv := Inventory{VApps: []VAppInfo{}}
	for _, a := range s.vapps {
		ai := VAppInfo{ID: "urn:vcloud:vapp:" + a.id, Name: a.name, Org: a.vdc.org.name, VDC: a.vdc.name, Status: a.status(now),
			Metadata: cloneMap(a.metadata), VMs: []VMInfo{}, Task: runningOp(a.busyTask, a.busyUntil, now), SharedWith: s.sharing(a)}
		for _, m := range a.vms {
			s.play(m)
			gi := map[string]string{}
			for k, v := range m.extra {
				if slices.Contains(secretKeys, k) {
					v = "(" + itoa(len(v)) + " bytes)"
				}
				gi[k] = v
			}
			sizing, storage := m.placement()
			ai.VMs = append(ai.VMs, VMInfo{ID: "urn:vcloud:vm:" + m.id, Name: m.name, Status: m.status(now), IP: m.ip,
				Metadata: cloneMap(m.metadata), GuestInfo: gi, Task: runningOp(m.busyTask, m.busyUntil, now),
				SizingPolicy: sizing, StorageProfile: storage, CPU: m.cpu, CoresPerSocket: m.cores, MemoryMB: m.memoryMB,
				AuthorizedKeys: m.guest.AuthorizedKeys(), Kubernetes: m.disk.installed.Kubernetes})
		}
		slices.SortFunc(ai.VMs, func(x, y VMInfo) int { return strings.Compare(x.Name, y.Name) })
		inv.VApps = append(inv.VApps, ai)
	}
	slices.SortFunc(inv.VApps, func(x, y VAppInfo) int { return strings.Compare(x.Name, y.Name) })
	inv.Catalog = []CatalogItemInfo{}
	for _, t := range s.items() {
		ci := CatalogItemInfo{ID: "urn:vcloud:catalogitem:" + t.itemID, Name: t.name, Status: t.status(now), Metadata: cloneMap(t.itemMeta),
			VM: t.vmName, Kubernetes: t.disk.installed.Kubernetes, Containerd: t.disk.installed.Containerd, CNI: t.disk.installed.CNI}
		if t.task != nil && ci.Status == 0 {
			ci.Task = t.task.op
		}
		inv.Catalog = append(inv.Catalog, ci)
	}
	return inv
}

func runningOp(t *task, until, now time.Time) string {
	if t == nil || !now.Before(until) {
		return ""
	}
	return t.op
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Faults returns the faults in force, targeted faults with the hits they have left.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.clone()
}

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f.clone()
}

// AddTargeted adds targeted faults to those in force, leaving the others as they are:
// tests running side by side each aim at their own vApp.
func (s *Server) AddTargeted(fs ...Targeted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Targeted = append(slices.Clone(s.faults.Targeted), fs...)
}

func (f Faults) clone() Faults {
	if f.Errors != nil {
		f.Errors = cloneMap(f.Errors)
	}
	if f.Latency != nil {
		f.Latency = cloneMap(f.Latency)
	}
	f.Targeted = slices.Clone(f.Targeted)
	return f
}

// Calls counts the VCD API calls served since start, by operation: login, get, query,
// task (task polls), compose, recompose, reconfigure, power, metadata, delete. Calls that
// VCD relays to an API extension are not counted: they are not VCD's own work.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMap(s.calls)
}

// admin serves /sim/faults (GET, PUT), /sim/inventory and /sim/calls (GET): the simulator's own
// controls, which a real VCD does not have.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/sim/inventory" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Inventory())
	case r.URL.Path == "/sim/calls" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Calls())
	case r.URL.Path == "/sim/faults" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(s.Faults())
	case r.URL.Path == "/sim/faults" && r.Method == http.MethodPut:
		var f Faults
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		_ = json.NewEncoder(w).Encode(f)
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unknown simulator endpoint " + r.URL.Path})
	}
}

// TaskInfo is one task VCD ran, for a timeline of what a client asked for and when.
type TaskInfo struct {
	Op        string    `json:"op"`        // VCD's operation name (vdcComposeVapp, vappDeploy, …)
	Operation string    `json:"operation"` // what it did, as VCD words it (Adding VM mstr-…)
	Owner     string    `json:"owner"`     // the name of the vApp or VM it ran on
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

// Tasks lists the tasks of VCD's own (not those extensions write) started at or after
// since, oldest first.
func (s *Server) Tasks(since time.Time) []TaskInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TaskInfo
	for _, t := range s.tasks {
		if t.state == "" && !t.start.Before(since) {
			out = append(out, TaskInfo{Op: t.op, Operation: t.operation, Owner: t.ownerName, Start: t.start, End: t.end})
		}
	}
	slices.SortFunc(out, func(a, b TaskInfo) int { return a.Start.Compare(b.Start) })
	return out
}
