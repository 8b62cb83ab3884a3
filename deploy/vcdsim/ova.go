package vcdsim

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BaseImage describes an OVA that WriteOVA makes: an Ubuntu cloud image, or one with
// Kubernetes already installed (a ready-made template such as TKGm's, to import).
type BaseImage struct {
	// OS is ubuntu-20.04, ubuntu-22.04 or ubuntu-24.04.
	OS string `json:"os"`
	// KubernetesVersion, ContainerdVersion, CNI and CNIVersion, when set, say what the
	// image has installed (in a ProductSection of its own); a cloud image has none.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	ContainerdVersion string `json:"containerdVersion,omitempty"`
	CNI               string `json:"cni,omitempty"`
	CNIVersion        string `json:"cniVersion,omitempty"`
	// CPU and MemoryMB are the VM's hardware; 0 is Ubuntu's 2 CPUs and 1024 MB.
	CPU      int `json:"cpu,omitempty"`
	MemoryMB int `json:"memoryMb,omitempty"`
}

// ubuntuReleases are the Ubuntu releases WriteOVA knows: OS name → codename and product.
var ubuntuReleases = map[string]struct{ codename, product string }{
	"ubuntu-20.04": {"focal", "Ubuntu 20.04 LTS"},
	"ubuntu-22.04": {"jammy", "Ubuntu 22.04 LTS"},
	"ubuntu-24.04": {"noble", "Ubuntu 24.04 LTS"},
}

// installedClass is the ProductSection class of what a ready-made image has installed.
const installedClass = "io.vcdsim.installed"

// WriteOVA writes a small OVA shaped like Ubuntu's cloud image OVA: a tar of the OVF
// descriptor (first, as OVF requires), a small stream-optimized-looking disk and a
// manifest of their SHA-256 sums. Its OperatingSystemSection is ubuntu64Guest and its
// ProductSection offers cloud-init's OVF properties (instance-id, hostname, seedfrom,
// public-keys, user-data, password), as Ubuntu's does. It writes the same bytes for the
// same image.
func WriteOVA(w io.Writer, img BaseImage) error {
	files, err := ovaFiles(img)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	// A fixed time: the same image makes the same bytes.
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime,
			Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			return fmt.Errorf("vcdsim: write OVA: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("vcdsim: write OVA: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("vcdsim: write OVA: %w", err)
	}
	return nil
}

type ovaFile struct {
	name string
	data []byte
}

// ovaFiles are the OVA's members in order: descriptor, manifest, disk (Ubuntu's order).
func ovaFiles(img BaseImage) ([]ovaFile, error) {
	rel, ok := ubuntuReleases[img.OS]
	if !ok {
		return nil, fmt.Errorf("vcdsim: no OVA for OS %q: use ubuntu-20.04, ubuntu-22.04 or ubuntu-24.04", img.OS)
	}
	base := "ubuntu-" + rel.codename + "-" + strings.TrimPrefix(img.OS, "ubuntu-") + "-cloudimg"
	disk := fakeDisk(base, img)
	ovf, err := descriptor(base, rel.product, img, len(disk))
	if err != nil {
		return nil, err
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	mf := fmt.Sprintf("SHA256(%s.ovf)= %s\nSHA256(%s.vmdk)= %s\n", base, sum(ovf), base, sum(disk))
	return []ovaFile{{base + ".ovf", ovf}, {base + ".mf", []byte(mf)}, {base + ".vmdk", disk}}, nil
}

// fakeDisk is 64 KiB that starts as a VMDK sparse extent does (its "KDMV" magic) and says
// which image it is; the rest is zeros, as an empty grain would be.
func fakeDisk(base string, img BaseImage) []byte {
	b := make([]byte, 64<<10)
	copy(b, "KDMV")
	copy(b[512:], fmt.Sprintf("# vcdsim disk of %s (kubernetes %q)\n", base, img.KubernetesVersion))
	return b
}

// descriptor is the OVF envelope, rendered by encoding/xml.
func descriptor(base, product string, img BaseImage, diskSize int) ([]byte, error) {
	cpu, mem := img.CPU, img.MemoryMB
	if cpu <= 0 {
		cpu = 2
	}
	if mem <= 0 {
		mem = 1024
	}
	vs := ovfVirtualSystem{ID: base, Info: "A virtual machine", Name: base,
		OS: ovfOS{ID: "94", OSType: "ubuntu64Guest", Info: "The kind of installed guest operating system"},
		Products: []ovfProduct{{Required: "false", Info: "Cloud-Init customization", Product: product, Properties: []ovfProperty{
			{Key: "instance-id", Type: "string", UserConfigurable: "true", Value: "id-ovf", Label: "A Unique Instance ID for this instance",
				Description: `Specifies the instance id.  This is required and used to determine if the machine should take "first boot" actions`},
			{Key: "hostname", Type: "string", UserConfigurable: "true", Value: "ubuntuguest", Description: "Specifies the hostname for the appliance"},
			{Key: "seedfrom", Type: "string", UserConfigurable: "true", Label: "Url to seed instance data from",
				Description: "This field is optional, but indicates that the instance should 'seed' user-data and meta-data from the given url."},
			{Key: "public-keys", Type: "string", UserConfigurable: "true", Value: "", Label: "ssh public keys",
				Description: "This field is optional, but indicates that the instance should populate the default user's 'authorized_keys' with this value"},
			{Key: "user-data", Type: "string", UserConfigurable: "true", Value: "", Label: "Encoded user-data",
				Description: "In order to fit into a xml attribute, this value is base64 encoded . It will be decoded, and then processed normally as user-data."},
			{Key: "password", Type: "string", UserConfigurable: "true", Value: "", Label: "Default User's password",
				Description: "If set, the default user's password will be set to this value to allow password based login."},
		}}},
		Hardware: ovfHardware{Transport: "iso", Info: "Virtual hardware requirements",
			System: ovfSystem{ElementName: "Virtual Hardware Family", InstanceID: "0", Identifier: base, Type: "vmx-10"},
			Items: []ovfItem{
				{AllocationUnits: "hertz * 10^6", Description: "Number of Virtual CPUs", ElementName: fmt.Sprintf("%d virtual CPU(s)", cpu),
					InstanceID: "1", ResourceType: 3, VirtualQuantity: strconv.Itoa(cpu)},
				{AllocationUnits: "byte * 2^20", Description: "Memory Size", ElementName: fmt.Sprintf("%dMB of memory", mem),
					InstanceID: "2", ResourceType: 4, VirtualQuantity: strconv.Itoa(mem)},
				{Address: "0", Description: "SCSI Controller", ElementName: "SCSI Controller 0", InstanceID: "3", ResourceSubType: "VirtualSCSI", ResourceType: 6},
				{AddressOnParent: "0", ElementName: "Hard Disk 1", HostResource: "ovf:/disk/vmdisk1", InstanceID: "4", Parent: "3", ResourceType: 17},
				{AddressOnParent: "0", AutomaticAllocation: "true", Connection: "VM Network", Description: "VmxNet3 ethernet adapter on \"VM Network\"",
					ElementName: "Ethernet 1", InstanceID: "5", ResourceSubType: "VmxNet3", ResourceType: 10},
			}},
		Annotation: &ovfAnnotation{Required: "false", Info: "For more information, see http://ubuntu.com", Annotation: "This is " + product + " Server."},
	}
	if img.KubernetesVersion != "" {
		vs.Products = append(vs.Products, ovfProduct{Class: installedClass, Required: "false", Info: "What is installed", Product: "Kubernetes " + img.KubernetesVersion,
			Properties: []ovfProperty{{Key: "kubernetes", Type: "string", Value: img.KubernetesVersion}, {Key: "containerd", Type: "string", Value: img.ContainerdVersion},
				{Key: "cni", Type: "string", Value: img.CNI}, {Key: "cni_version", Type: "string", Value: img.CNIVersion}}})
	}
	env := ovfEnvelope{Xmlns: ovfNS, CIM: "http://schemas.dmtf.org/wbem/wscim/1/common", OVF: ovfNS,
		RASD: "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData", VMW: "http://www.vmware.com/schema/ovf",
		VSSD: "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData", XSI: "http://www.w3.org/2001/XMLSchema-instance",
		Files: []ovfFileRef{{HREF: base + ".vmdk", ID: "file1", Size: strconv.Itoa(diskSize)}},
		Disks: ovfDiskSection{Info: "Virtual disk information", Disks: []ovfDisk{{Capacity: "10", Units: "byte * 2^30", DiskID: "vmdisk1", FileRef: "file1",
			Format: "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized", PopulatedSize: strconv.Itoa(diskSize)}}},
		Networks:      ovfNetworkSection{Info: "The list of logical networks", Networks: []ovfNetwork{{Name: "VM Network", Description: "The VM Network network"}}},
		VirtualSystem: vs}
	b, err := xml.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("vcdsim: OVF descriptor: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

const ovfNS = "http://schemas.dmtf.org/ovf/envelope/1"

// The OVF envelope as WriteOVA writes it (prefixed names, as Ubuntu's descriptor has them).
type ovfEnvelope struct {
	XMLName       xml.Name          `xml:"Envelope"`
	Xmlns         string            `xml:"xmlns,attr"`
	CIM           string            `xml:"xmlns:cim,attr"`
	OVF           string            `xml:"xmlns:ovf,attr"`
	RASD          string            `xml:"xmlns:rasd,attr"`
	VMW           string            `xml:"xmlns:vmw,attr"`
	VSSD          string            `xml:"xmlns:vssd,attr"`
	XSI           string            `xml:"xmlns:xsi,attr"`
	Files         []ovfFileRef      `xml:"References>File"`
	Disks         ovfDiskSection    `xml:"DiskSection"`
	Networks      ovfNetworkSection `xml:"NetworkSection"`
	VirtualSystem ovfVirtualSystem  `xml:"VirtualSystem"`
}

type ovfFileRef struct {
	HREF string `xml:"ovf:href,attr"`
	ID   string `xml:"ovf:id,attr"`
	Size string `xml:"ovf:size,attr"`
}

type ovfDiskSection struct {
	Info  string    `xml:"Info"`
	Disks []ovfDisk `xml:"Disk"`
}

type ovfDisk struct {
	Capacity      string `xml:"ovf:capacity,attr"`
	Units         string `xml:"ovf:capacityAllocationUnits,attr"`
	DiskID        string `xml:"ovf:diskId,attr"`
	FileRef       string `xml:"ovf:fileRef,attr"`
	Format        string `xml:"ovf:format,attr"`
	PopulatedSize string `xml:"ovf:populatedSize,attr"`
}

type ovfNetworkSection struct {
	Info     string       `xml:"Info"`
	Networks []ovfNetwork `xml:"Network"`
}

type ovfNetwork struct {
	Name        string `xml:"ovf:name,attr"`
	Description string `xml:"Description"`
}

type ovfVirtualSystem struct {
	ID         string         `xml:"ovf:id,attr"`
	Info       string         `xml:"Info"`
	Name       string         `xml:"Name"`
	OS         ovfOS          `xml:"OperatingSystemSection"`
	Products   []ovfProduct   `xml:"ProductSection"`
	Hardware   ovfHardware    `xml:"VirtualHardwareSection"`
	Annotation *ovfAnnotation `xml:"AnnotationSection,omitempty"`
}

type ovfOS struct {
	ID     string `xml:"ovf:id,attr"`
	OSType string `xml:"vmw:osType,attr"`
	Info   string `xml:"Info"`
}

type ovfProduct struct {
	Class      string        `xml:"ovf:class,attr,omitempty"`
	Required   string        `xml:"ovf:required,attr"`
	Info       string        `xml:"Info"`
	Product    string        `xml:"Product"`
	Properties []ovfProperty `xml:"Property"`
}

type ovfProperty struct {
	Key              string `xml:"ovf:key,attr"`
	Type             string `xml:"ovf:type,attr"`
	UserConfigurable string `xml:"ovf:userConfigurable,attr,omitempty"`
	Value            string `xml:"ovf:value,attr"`
	Label            string `xml:"Label,omitempty"`
	Description      string `xml:"Description,omitempty"`
}

type ovfHardware struct {
	Transport string    `xml:"ovf:transport,attr"`
	Info      string    `xml:"Info"`
	System    ovfSystem `xml:"System"`
	Items     []ovfItem `xml:"Item"`
}

type ovfSystem struct {
	ElementName string `xml:"vssd:ElementName"`
	InstanceID  string `xml:"vssd:InstanceID"`
	Identifier  string `xml:"vssd:VirtualSystemIdentifier"`
	Type        string `xml:"vssd:VirtualSystemType"`
}

type ovfItem struct {
	Address             string `xml:"rasd:Address,omitempty"`
	AddressOnParent     string `xml:"rasd:AddressOnParent,omitempty"`
	AllocationUnits     string `xml:"rasd:AllocationUnits,omitempty"`
	AutomaticAllocation string `xml:"rasd:AutomaticAllocation,omitempty"`
	Connection          string `xml:"rasd:Connection,omitempty"`
	Description         string `xml:"rasd:Description,omitempty"`
	ElementName         string `xml:"rasd:ElementName"`
	HostResource        string `xml:"rasd:HostResource,omitempty"`
	InstanceID          string `xml:"rasd:InstanceID"`
	Parent              string `xml:"rasd:Parent,omitempty"`
	ResourceSubType     string `xml:"rasd:ResourceSubType,omitempty"`
	ResourceType        int    `xml:"rasd:ResourceType"`
	VirtualQuantity     string `xml:"rasd:VirtualQuantity,omitempty"`
}

type ovfAnnotation struct {
	Required   string `xml:"ovf:required,attr"`
	Info       string `xml:"Info"`
	Annotation string `xml:"Annotation"`
}

// ovfInfo is what VCD reads of an uploaded descriptor: the files to transfer and the one
// VM, its OS, hardware and product properties.
type ovfInfo struct {
	files    []ovfReference
	vmName   string
	osType   string
	product  string
	cpu      int
	memoryMB int
	// properties are the ProductSections' properties by key; installed those of vcdsim's
	// own class (what a ready-made image has installed).
	properties map[string]string
	installed  map[string]string
}

type ovfReference struct {
	href string
	size int64 // -1 when the descriptor gives none
}

// What the parser reads, by local name (encoding/xml matches a namespaced attribute by its
// local name when the tag names no namespace).
type ovfIn struct {
	XMLName xml.Name `xml:"Envelope"`
	Files   []struct {
		HREF string `xml:"href,attr"`
		Size string `xml:"size,attr"`
	} `xml:"References>File"`
	Systems []struct {
		ID   string `xml:"id,attr"`
		Name string `xml:"Name"`
		OS   struct {
			OSType string `xml:"osType,attr"`
		} `xml:"OperatingSystemSection"`
		Products []struct {
			Class      string `xml:"class,attr"`
			Product    string `xml:"Product"`
			Properties []struct {
				Key   string `xml:"key,attr"`
				Value string `xml:"value,attr"`
			} `xml:"Property"`
		} `xml:"ProductSection"`
		Items []struct {
			ResourceType    int    `xml:"ResourceType"`
			VirtualQuantity string `xml:"VirtualQuantity"`
			AllocationUnits string `xml:"AllocationUnits"`
		} `xml:"VirtualHardwareSection>Item"`
	} `xml:"VirtualSystem"`
	Collections []struct{} `xml:"VirtualSystemCollection"`
}

var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

// parseOVF reads a descriptor as VCD does on upload, and refuses what VCD refuses (its
// message, roughly): not an OVF envelope, not exactly one VM, files it cannot take.
func parseOVF(b []byte) (*ovfInfo, error) {
	var in ovfIn
	if err := xml.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("The OVF descriptor is invalid: %v", err)
	}
	if in.XMLName.Space != ovfNS {
		return nil, errors.New("The OVF descriptor is invalid: its root is not an OVF 1.x Envelope")
	}
	if len(in.Collections) > 0 || len(in.Systems) != 1 {
		return nil, fmt.Errorf("The OVF descriptor holds %d virtual systems: the simulator imports one VM", len(in.Systems))
	}
	out := &ovfInfo{properties: map[string]string{}, installed: map[string]string{}, cpu: 1, memoryMB: 512}
	for _, f := range in.Files {
		if !fileNameRE.MatchString(f.HREF) {
			return nil, fmt.Errorf("The OVF descriptor is invalid: file reference %q is not a plain file name", f.HREF)
		}
		size := int64(-1)
		if f.Size != "" {
			n, err := strconv.ParseInt(f.Size, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("The OVF descriptor is invalid: file %q has size %q", f.HREF, f.Size)
			}
			size = n
		}
		out.files = append(out.files, ovfReference{href: f.HREF, size: size})
	}
	vs := in.Systems[0]
	out.vmName = cmpOr(strings.TrimSpace(vs.Name), vs.ID)
	if out.vmName == "" {
		return nil, errors.New("The OVF descriptor is invalid: its virtual system has no id")
	}
	out.osType = vs.OS.OSType
	for _, p := range vs.Products {
		dst := out.properties
		if p.Class == installedClass {
			dst = out.installed
		} else if out.product == "" {
			out.product = strings.TrimSpace(p.Product)
		}
		for _, prop := range p.Properties {
			dst[prop.Key] = prop.Value
		}
	}
	for _, it := range vs.Items {
		n, err := strconv.Atoi(strings.TrimSpace(it.VirtualQuantity))
		if err != nil || n <= 0 {
			continue
		}
		switch it.ResourceType {
		case 3:
			out.cpu = n
		case 4:
			switch strings.ReplaceAll(strings.TrimSpace(it.AllocationUnits), " ", "") {
			case "byte*2^30":
				n *= 1024
			case "byte*2^10":
				n /= 1024
			}
			out.memoryMB = n
		}
	}
	return out, nil
}

// readOVA reads an OVA (a tar) as VCD's by-URL import does: the descriptor is its .ovf
// member, the files it names are its other members.
func readOVA(b []byte) (ovf []byte, files map[string]int64, err error) {
	tr := tar.NewReader(bytes.NewReader(b))
	files = map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("not an OVA: %w", err)
		}
		if strings.HasSuffix(h.Name, ".ovf") && ovf == nil {
			if ovf, err = io.ReadAll(io.LimitReader(tr, 1<<22)); err != nil {
				return nil, nil, fmt.Errorf("not an OVA: %w", err)
			}
			continue
		}
		files[h.Name] = h.Size
	}
	if ovf == nil {
		return nil, nil, errors.New("the OVA has no OVF descriptor")
	}
	return ovf, files, nil
}
