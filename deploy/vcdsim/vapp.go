package vcdsim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// compose creates a vApp: 201 with the vApp and its running task. It is empty unless the
// request holds a SourcedItem (govcd's deprecated ComposeVApp), whose VM it gets on the
// networks of its InstantiationParams.
func (s *Server) compose(w http.ResponseWriter, r *http.Request, sess *session, vdcID string) *vcdError {
	d, err := s.vdcOf(sess, vdcID)
	if err != nil {
		return err
	}
	var in types.ComposeVAppParams
	if err := readXML(r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		return errf(400, "BAD_REQUEST", "a vApp needs a name")
	}
	if slices.ContainsFunc(d.vapps, func(a *vapp) bool { return strings.EqualFold(a.name, in.Name) }) {
		return errf(400, "DUPLICATE_NAME", "The VCD entity %s already exists.", in.Name)
	}
	now := time.Now()
	a := &vapp{id: uuid.NewString(), name: in.Name, description: in.Description, vdc: d, readyAt: now.Add(s.taskDelay()),
		metadata: map[string]string{}, created: now}
	if ip := in.InstantiationParams; ip != nil && ip.NetworkConfigSection != nil {
		if err := checkVAppNetworks(a, ip.NetworkConfigSection.NetworkConfig); err != nil {
			return err
		}
		a.networks = ip.NetworkConfigSection.NetworkConfig
	}
	var m *vm
	if in.SourcedItem != nil {
		var err *vcdError
		if m, err = s.newVM(a, in.SourcedItem); err != nil {
			return err
		}
	}
	t := s.newTask(subject{caller: sess, class: "compose", vapp: a}, "vdcComposeVapp", "Creating Virtual Application "+a.name, s.href("vApp/vapp-"+a.id), a.name, mimeVApp)
	if t.fail != nil {
		// The vApp never comes to life; the task reports why.
		writeXML(w, http.StatusCreated, mimeVApp, "VApp", &types.VApp{HREF: s.href("vApp/vapp-" + a.id), ID: "urn:vcloud:vapp:" + a.id,
			Name: a.name, Type: mimeVApp, Tasks: &types.TasksInProgress{Task: []*types.Task{s.taskXML(t)}}})
		return nil
	}
	a.busyTask, a.busyUntil = t, t.end
	d.vapps = append(d.vapps, a)
	s.vapps[a.id] = a
	if m != nil {
		m.busyTask, m.busyUntil = t, t.end
		a.vms = append(a.vms, m)
		s.vms[m.id] = m
	}
	writeXML(w, http.StatusCreated, mimeVApp, "VApp", s.vappXML(a))
	return nil
}

func (s *Server) vappOf(sess *session, id string) (*vapp, *vcdError) {
	a := s.vapps[id]
	if a == nil || !s.visible(sess, a.vdc.org) {
		return nil, forbidden("VApp", id)
	}
	return a, nil
}

func (s *Server) vappXML(a *vapp) *types.VApp {
	now := time.Now()
	out := &types.VApp{HREF: s.href("vApp/vapp-" + a.id), ID: "urn:vcloud:vapp:" + a.id, Name: a.name, Type: mimeVApp,
		Status: a.status(now), Deployed: a.deployed(now), Description: a.description, DateCreated: a.created.UTC().Format(time.RFC3339),
		Link: types.LinkList{{Rel: "up", HREF: s.href("vdc/" + a.vdc.id), Type: "application/vnd.vmware.vcloud.vdc+xml"},
			{Rel: "recompose", HREF: s.href("vApp/vapp-" + a.id + "/action/recomposeVApp"), Type: "application/vnd.vmware.vcloud.recomposeVAppParams+xml"}},
		NetworkConfigSection: s.networkConfigXML(a), Tasks: s.running(a.busyTask, a.busyUntil)}
	if len(a.vms) > 0 {
		out.Children = &types.VAppChildren{}
		for _, m := range a.vms {
			out.Children.VM = append(out.Children.VM, s.vmXML(m))
		}
	}
	return out
}

// networkConfigXML is always present, even empty: govcd dereferences it.
func (s *Server) networkConfigXML(a *vapp) *types.NetworkConfigSection {
	return &types.NetworkConfigSection{Info: "The configuration parameters for logical networks",
		HREF: s.href("vApp/vapp-" + a.id + "/networkConfigSection/"), Type: "application/vnd.vmware.vcloud.networkConfigSection+xml",
		NetworkConfig: slices.Clone(a.networks)}
}

func (s *Server) busyVApp(a *vapp) bool {
	return time.Now().Before(a.busyUntil) || time.Now().Before(a.readyAt)
}

// vappRoute serves /api/vApp/vapp-{id}/…
func (s *Server) vappRoute(w http.ResponseWriter, r *http.Request, sess *session, id string, rest []string) *vcdError {
	a, err := s.vappOf(sess, id)
	if err != nil {
		return err
	}
	href := s.href("vApp/vapp-" + a.id)
	setBusy := func(t *task) { a.busyTask, a.busyUntil = t, t.end }
	path := strings.Join(rest, "/")
	switch {
	case path == "" && r.Method == http.MethodGet:
		writeXML(w, 200, mimeVApp, "VApp", s.vappXML(a))
	case path == "" && r.Method == http.MethodDelete:
		if s.busyVApp(a) {
			return busyErr(a.name)
		}
		if a.deployed(time.Now()) {
			return errf(400, "BAD_REQUEST", "The requested operation could not be executed since vApp %q is running. Stop the vApp first.", a.name)
		}
		t := s.newTask(subject{caller: sess, class: "delete", vapp: a}, "vdcDeleteVapp", "Deleting Virtual Application "+a.name, href, a.name, mimeVApp)
		if t.fail == nil {
			s.removeVApp(a)
		}
		s.writeTask(w, t)
	case path == "controlAccess" && r.Method == http.MethodGet:
		writeXML(w, 200, mimeControlAccess, "", s.controlAccessXML(a))
	case path == "action/controlAccess" && r.Method == http.MethodPost:
		return s.shareVApp(w, r, a)
	case path == "networkConfigSection" && r.Method == http.MethodGet:
		writeXML(w, 200, "application/vnd.vmware.vcloud.networkConfigSection+xml", "", s.networkConfigXML(a))
	case path == "networkConfigSection" && r.Method == http.MethodPut:
		if s.busyVApp(a) {
			return busyErr(a.name)
		}
		var in types.NetworkConfigSection
		if err := readXML(r, &in); err != nil {
			return err
		}
		if err := checkVAppNetworks(a, in.NetworkConfig); err != nil {
			return err
		}
		t := s.newTask(subject{caller: sess, class: "reconfigure", vapp: a}, "vappUpdateVappNetworkSection", "Updating network configuration of "+a.name, href, a.name, mimeVApp)
		if t.fail == nil {
			a.networks = in.NetworkConfig
		}
		setBusy(t)
		s.writeTask(w, t)
	case path == "action/recomposeVApp" && r.Method == http.MethodPost:
		return s.recompose(w, r, sess, a)
	case path == "power/action/powerOn" && r.Method == http.MethodPost:
		if s.busyVApp(a) {
			return busyErr(a.name)
		}
		t := s.newTask(subject{caller: sess, class: "power", vapp: a}, "vappDeploy", "Starting Virtual Application "+a.name, href, a.name, mimeVApp)
		for _, m := range a.vms {
			if m.onAt.IsZero() && t.fail == nil {
				m.onAt = t.end
				s.boot(m)
			}
		}
		setBusy(t)
		s.writeTask(w, t)
	case (path == "action/undeploy" || path == "power/action/powerOff") && r.Method == http.MethodPost:
		if s.busyVApp(a) {
			return busyErr(a.name)
		}
		t := s.newTask(subject{caller: sess, class: "power", vapp: a}, "vappUndeploy", "Stopping Virtual Application "+a.name, href, a.name, mimeVApp)
		if t.fail == nil {
			for _, m := range a.vms {
				s.play(m) // the guest ran until now
				m.onAt = time.Time{}
			}
		}
		setBusy(t)
		s.writeTask(w, t)
	case len(rest) > 0 && rest[0] == "metadata":
		if r.Method != http.MethodGet && s.busyVApp(a) {
			return busyErr(a.name)
		}
		return s.metadataRoute(w, r, subject{caller: sess, class: "metadata", vapp: a}, href, a.name, mimeVApp, a.metadata, rest, setBusy)
	default:
		return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
	}
	return nil
}

// checkVAppNetworks refuses vApp networks whose parent is not a network of the VDC.
func checkVAppNetworks(a *vapp, ncs []types.VAppNetworkConfiguration) *vcdError {
	for _, nc := range ncs {
		if nc.Configuration == nil || nc.Configuration.ParentNetwork == nil {
			continue
		}
		if !slices.ContainsFunc(a.vdc.networks, func(n *network) bool {
			return strings.HasSuffix(nc.Configuration.ParentNetwork.HREF, n.id) || nc.NetworkName == n.name
		}) {
			return errf(400, "BAD_REQUEST", "network %q is not available in VDC %q", nc.NetworkName, a.vdc.name)
		}
	}
	return nil
}

func (s *Server) removeVApp(a *vapp) {
	for _, m := range a.vms {
		delete(s.vms, m.id)
	}
	a.vdc.vapps = slices.DeleteFunc(a.vdc.vapps, func(x *vapp) bool { return x == a })
	delete(s.vapps, a.id)
}

func (s *Server) vmCount(d *vdc) int {
	n := 0
	for _, a := range d.vapps {
		n += len(a.vms)
	}
	return n
}

// recompose adds a VM from a template (SourcedItem) or deletes one (DeleteItem). Like VCD,
// it refuses a second recompose while one runs on the vApp.
func (s *Server) recompose(w http.ResponseWriter, r *http.Request, sess *session, a *vapp) *vcdError {
	if s.busyVApp(a) {
		return busyErr(a.name)
	}
	var in types.ReComposeVAppParams
	if err := readXML(r, &in); err != nil {
		return err
	}
	href := s.href("vApp/vapp-" + a.id)
	switch {
	case in.DeleteItem != nil:
		m := s.vmByHREF(a, in.DeleteItem.HREF)
		if m == nil {
			return forbidden("VM", in.DeleteItem.HREF)
		}
		if !m.onAt.IsZero() {
			return errf(400, "BAD_REQUEST", "VM %q is running; undeploy it first", m.name)
		}
		t := s.newTask(subject{caller: sess, class: "recompose", vapp: a, vm: m}, "vdcRecomposeVapp", "Removing VM "+m.name, href, a.name, mimeVApp)
		if t.fail == nil {
			s.removeVM(m)
		}
		a.busyTask, a.busyUntil = t, t.end
		s.writeTask(w, t)
		return nil
	case in.SourcedItem == nil || in.SourcedItem.Source == nil:
		return errf(400, "BAD_REQUEST", "a recompose needs a SourcedItem or a DeleteItem")
	}
	m, err := s.newVM(a, in.SourcedItem)
	if err != nil {
		return err
	}
	name := m.name
	t := s.newTask(subject{caller: sess, class: "recompose", vapp: a, vm: m}, "vdcRecomposeVapp", "Adding VM "+name, href, a.name, mimeVApp)
	a.busyTask, a.busyUntil = t, t.end
	if t.fail == nil {
		m.busyTask, m.busyUntil = t, t.end
		a.vms = append(a.vms, m)
		s.vms[m.id] = m
	}
	s.writeTask(w, t)
	return nil
}

// newVM makes the VM a SourcedItem asks for in the vApp, not yet added to it: from a
// template VM, named, placed (storage profile, sizing policy, hardware) and on its networks.
func (s *Server) newVM(a *vapp, item *types.SourcedCompositionItemParam) (*vm, *vcdError) {
	if item.Source == nil {
		return nil, errf(400, "BAD_REQUEST", "a SourcedItem needs a Source")
	}
	src := item.Source
	tmpl := s.templateBy(func(t *template) bool { return strings.HasSuffix(src.HREF, "vm-"+t.vmID) })
	if tmpl == nil {
		return nil, errf(400, "BAD_REQUEST", "source %q is not a template VM", src.HREF)
	}
	if tmpl.status(time.Now()) != 8 {
		return nil, errf(400, "BAD_REQUEST", "The vApp template %q is not ready: it cannot be instantiated.", tmpl.name)
	}
	name := src.Name
	if g := item.VMGeneralParams; g != nil && g.Name != "" {
		name = g.Name
	}
	if name == "" {
		return nil, errf(400, "BAD_REQUEST", "the new VM needs a name")
	}
	if slices.ContainsFunc(a.vms, func(m *vm) bool { return m.name == name }) {
		return nil, errf(400, "DUPLICATE_NAME", "A VM named %q already exists in vApp %q.", name, a.name)
	}
	if a.vdc.maxVMs > 0 && s.vmCount(a.vdc) >= a.vdc.maxVMs {
		return nil, errf(400, "VDC_RESOURCE_LIMIT_EXCEEDED", "The requested operation will exceed the VDC's quota of %d VMs.", a.vdc.maxVMs)
	}
	m := &vm{id: uuid.NewString(), name: name, vapp: a, template: tmpl, disk: tmpl.disk, mac: randomMAC(), extra: map[string]string{}, metadata: map[string]string{}}
	m.disk.installed.Scripts = slices.Clone(m.disk.installed.Scripts)
	if err := s.place(m, item); err != nil {
		return nil, err
	}
	if ip := item.InstantiationParams; ip != nil && ip.NetworkConnectionSection != nil {
		for _, nc := range ip.NetworkConnectionSection.NetworkConnection {
			if nc == nil || nc.Network == "" || nc.Network == "none" {
				continue
			}
			if !slices.ContainsFunc(a.networks, func(c types.VAppNetworkConfiguration) bool { return c.NetworkName == nc.Network }) {
				return nil, errf(400, "BAD_REQUEST", "network %q is not attached to vApp %q: add it to the vApp first", nc.Network, a.name)
			}
			m.network = nc.Network
			for _, n := range a.vdc.networks {
				if n.name == nc.Network {
					n.next++
					m.ip = fmt.Sprintf("%s.%d.%d", n.pool, n.next/250, 10+n.next%240)
				}
			}
		}
	}
	return m, nil
}

func (s *Server) vmByHREF(a *vapp, href string) *vm {
	for _, m := range a.vms {
		if strings.HasSuffix(href, "vm-"+m.id) {
			return m
		}
	}
	return nil
}

func (s *Server) removeVM(m *vm) {
	a := m.vapp
	a.vms = slices.DeleteFunc(a.vms, func(x *vm) bool { return x == m })
	delete(s.vms, m.id)
}

func (s *Server) vmXML(m *vm) *types.Vm {
	now := time.Now()
	href := s.href("vApp/vm-" + m.id)
	out := &types.Vm{HREF: href, ID: "urn:vcloud:vm:" + m.id, Name: m.name, Type: mimeVM, Status: m.status(now), Deployed: !m.onAt.IsZero(),
		Link:  types.LinkList{{Rel: "up", HREF: s.href("vApp/vapp-" + m.vapp.id), Type: mimeVApp}},
		Tasks: s.running(m.busyTask, m.busyUntil), NetworkConnectionSection: s.nicXML(m),
		GuestCustomizationSection: &types.GuestCustomizationSection{Info: "Specifies Guest OS Customization Settings", ComputerName: m.name,
			HREF: href + "/guestCustomizationSection/", Type: "application/vnd.vmware.vcloud.guestCustomizationSection+xml"}}
	out.Link = append(out.Link, &types.Link{Rel: "reconfigureVm", HREF: href + "/action/reconfigureVm", Type: mimeVM})
	s.hardwareXML(m, out)
	return out
}

func (s *Server) nicXML(m *vm) *types.NetworkConnectionSection {
	out := &types.NetworkConnectionSection{Info: "Specifies the available VM network connections",
		HREF: s.href("vApp/vm-" + m.id + "/networkConnectionSection/"), Type: "application/vnd.vmware.vcloud.networkConnectionSection+xml"}
	if m.network != "" {
		out.NetworkConnection = []*types.NetworkConnection{{Network: m.network, IPAddress: m.ip, IpType: "IPV4", IsConnected: true,
			MACAddress: m.mac, IPAddressAllocationMode: types.IPAllocationModePool, NetworkAdapterType: "VMXNET3"}}
	}
	return out
}

func (s *Server) busyVM(m *vm) bool {
	return time.Now().Before(m.busyUntil) || time.Now().Before(m.vapp.readyAt)
}

// vmRoute serves /api/vApp/vm-{id}/…
func (s *Server) vmRoute(w http.ResponseWriter, r *http.Request, sess *session, id string, rest []string) *vcdError {
	m := s.vms[id]
	if m == nil || !s.visible(sess, m.vapp.vdc.org) {
		return forbidden("VM", id)
	}
	href := s.href("vApp/vm-" + m.id)
	setBusy := func(t *task) { m.busyTask, m.busyUntil = t, t.end }
	path := strings.Join(rest, "/")
	mutating := r.Method != http.MethodGet
	if mutating && s.busyVM(m) {
		return busyErr(m.name)
	}
	switch {
	case path == "" && r.Method == http.MethodGet:
		s.play(m)
		writeXML(w, 200, mimeVM, "Vm", s.vmXML(m))
	case path == "" && r.Method == http.MethodDelete:
		if !m.onAt.IsZero() {
			return errf(400, "BAD_REQUEST", "The requested operation could not be executed since VM %q is running. Undeploy it first.", m.name)
		}
		t := s.newTask(subject{caller: sess, class: "delete", vapp: m.vapp, vm: m}, "vappDeleteVm", "Deleting VM "+m.name, href, m.name, mimeVM)
		if t.fail == nil {
			s.removeVM(m)
		}
		s.writeTask(w, t)
	case path == "networkConnectionSection" && r.Method == http.MethodGet:
		writeXML(w, 200, "application/vnd.vmware.vcloud.networkConnectionSection+xml", "", s.nicXML(m))
	case path == "guestCustomizationSection" && r.Method == http.MethodGet:
		writeXML(w, 200, "application/vnd.vmware.vcloud.guestCustomizationSection+xml", "", s.vmXML(m).GuestCustomizationSection)
	case path == "guestcustomizationstatus" && r.Method == http.MethodGet:
		status := "GC_PENDING"
		if m.status(time.Now()) == 4 {
			status = "GC_COMPLETE"
		}
		w.Header().Set("Content-Type", "application/vnd.vmware.vcloud.guestcustomizationstatussection+xml")
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><GuestCustomizationStatusSection xmlns="%s"><GuestCustStatus>%s</GuestCustStatus></GuestCustomizationStatusSection>`, nsVCloud, status)
	case path == "virtualHardwareSection" && r.Method == http.MethodGet:
		s.play(m)
		s.writeHardware(w, m)
	case path == "virtualHardwareSection" && r.Method == http.MethodPut:
		var in struct {
			Extra []struct {
				Key   string `xml:"key,attr"`
				Value string `xml:"value,attr"`
			} `xml:"ExtraConfig"`
			rasdItems
		}
		if err := readXML(r, &in); err != nil {
			return err
		}
		// The CPU and memory items say what the VM's should be (a client that writes only
		// extraConfig sends back the items it read).
		hw := m.hardware().with(in.Items...)
		if err := checkHardware(m, m.sizing, hw); err != nil {
			return err
		}
		t := s.newTask(subject{caller: sess, class: "reconfigure", vapp: m.vapp, vm: m}, "vappUpdateVm", "Updating VM "+m.name, href, m.name, mimeVM)
		if t.fail == nil {
			for _, e := range in.Extra {
				if strings.Contains(e.Key, " ") {
					return errf(400, "BAD_REQUEST", "invalid extraConfig key %q", e.Key)
				}
				if e.Value == "" {
					delete(m.extra, e.Key) // VCD removes an item set to nothing
				} else {
					m.extra[e.Key] = e.Value
				}
			}
			m.cpu, m.cores, m.memoryMB = hw.cpu, hw.cores, hw.memoryMB
			// The guest sees what kaas wrote (an upgrade target) and acts on it.
			m.guest.Reconfigured(m.guestVM(), time.Now(), s.bootDelay())
		}
		setBusy(t)
		s.writeTask(w, t)
	case path == "virtualHardwareSection/cpu" && r.Method == http.MethodPut:
		return s.hardwareItem(w, r, sess, m, rasdCPU)
	case path == "virtualHardwareSection/memory" && r.Method == http.MethodPut:
		return s.hardwareItem(w, r, sess, m, rasdMemory)
	case path == "action/reconfigureVm" && r.Method == http.MethodPost:
		return s.reconfigureVM(w, r, sess, m)
	case path == "power/action/powerOn" && r.Method == http.MethodPost:
		if m.status(time.Now()) == 4 || !m.onAt.IsZero() {
			return errf(400, "BAD_REQUEST", "VM %q is already powered on", m.name)
		}
		t := s.newTask(subject{caller: sess, class: "power", vapp: m.vapp, vm: m}, "vappDeploy", "Starting VM "+m.name, href, m.name, mimeVM)
		if t.fail == nil {
			m.onAt = t.end
			s.boot(m)
		}
		setBusy(t)
		s.writeTask(w, t)
	case (path == "action/undeploy" || path == "power/action/powerOff" || path == "power/action/shutdown") && r.Method == http.MethodPost:
		if m.onAt.IsZero() && path == "action/undeploy" {
			return errf(400, "BAD_REQUEST", "VM %q is not running", m.name)
		}
		t := s.newTask(subject{caller: sess, class: "power", vapp: m.vapp, vm: m}, "vappUndeploy", "Stopping VM "+m.name, href, m.name, mimeVM)
		if t.fail == nil {
			s.play(m) // the guest ran until now
			m.onAt = time.Time{}
		}
		setBusy(t)
		s.writeTask(w, t)
	case len(rest) > 0 && rest[0] == "metadata":
		return s.metadataRoute(w, r, subject{caller: sess, class: "metadata", vapp: m.vapp, vm: m}, href, m.name, mimeVM, m.metadata, rest, setBusy)
	default:
		return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
	}
	return nil
}

// writeHardware answers the virtual hardware section with the VM's CPU and memory items
// and its extraConfig, the channel kaas uses for guestinfo.
func (s *Server) writeHardware(w http.ResponseWriter, m *vm) {
	type extra struct {
		XMLName  xml.Name `xml:"vmw:ExtraConfig"`
		Key      string   `xml:"vmw:key,attr"`
		Value    string   `xml:"vmw:value,attr"`
		Required bool     `xml:"ovf:required,attr"`
	}
	out := struct {
		XMLName xml.Name  `xml:"ovf:VirtualHardwareSection"`
		Xmlns   string    `xml:"xmlns,attr"`
		Ovf     string    `xml:"xmlns:ovf,attr"`
		Rasd    string    `xml:"xmlns:rasd,attr"`
		Vmw     string    `xml:"xmlns:vmw,attr"`
		HREF    string    `xml:"href,attr"`
		Type    string    `xml:"type,attr"`
		Info    string    `xml:"ovf:Info"`
		Items   []rasdXML `xml:"ovf:Item"`
		Extra   []extra
	}{Xmlns: nsVCloud, Ovf: types.XMLNamespaceOVF, Rasd: types.XMLNamespaceRASD, Vmw: types.XMLNamespaceVMW,
		HREF: s.href("vApp/vm-" + m.id + "/virtualHardwareSection/"), Type: "application/vnd.vmware.vcloud.virtualHardwareSection+xml",
		Info: "Virtual hardware requirements", Items: m.rasdItems()}
	keys := make([]string, 0, len(m.extra))
	for k := range m.extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out.Extra = append(out.Extra, extra{Key: k, Value: m.extra[k]})
	}
	writeXML(w, 200, "application/vnd.vmware.vcloud.virtualHardwareSection+xml", "", out)
}
