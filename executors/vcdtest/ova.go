package vcdtest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// WriteOVA writes a minimal valid OVA into dir, as ovftool would make it: an OVF
// descriptor of one VM (1 CPU, 512 MB, one 1 MiB disk, one NIC), its manifest, and the disk,
// an empty stream-optimized VMDK. It returns the file's path and SHA-256.
func WriteOVA(t testing.TB, dir string) (path, digest string) {
	t.Helper()
	disk := streamOptimizedVMDK(1 << 20)
	ovf := []byte(fmt.Sprintf(ovfDescriptor, len(disk)))
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	mf := []byte(fmt.Sprintf("SHA256(descriptor.ovf)= %s\nSHA256(disk1.vmdk)= %s\n", sum(ovf), sum(disk)))

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The descriptor comes first, the manifest next (the OVF specification's order).
	for _, f := range []struct {
		name string
		data []byte
	}{{"descriptor.ovf", ovf}, {"descriptor.mf", mf}, {"disk1.vmdk", disk}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "kaas-conformance.ova")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, sum(buf.Bytes())
}

const ovfDescriptor = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="disk1.vmdk" ovf:id="file1" ovf:size="%d"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <Name>vm</Name>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>vm</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>512MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>512</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`

// streamOptimizedVMDK is an empty disk of the given capacity in VMware's stream-optimized
// format (the one OVAs carry): a sparse extent header, the embedded descriptor, no grains,
// then the grain directory, the footer and the end-of-stream marker.
func streamOptimizedVMDK(capacity int64) []byte {
	const (
		sector    = 512
		grain     = 128 // sectors
		gtes      = 512 // grain table entries per table
		overhead  = 128 // sectors before the first grain
		gdAtEnd   = ^uint64(0)
		markerGD  = 2
		markerEnd = 3 // footer
	)
	sectors := uint64(capacity / sector)
	descriptor := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n"+
		"# Extent description\nRW %d SPARSE \"disk1.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n"+
		"ddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"2\"\nddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\"\n"+
		"ddb.virtualHWVersion = \"4\"\n", sectors)
	header := func(gdOffset uint64) []byte {
		var b bytes.Buffer
		w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
		b.WriteString("KDMV")
		w(uint32(3))          // version
		w(uint32(0x00030001)) // valid newline test, compressed grains, markers
		w(sectors)            // capacity
		w(uint64(grain))      // grain size
		w(uint64(1))          // descriptor offset
		w(uint64(1))          // descriptor size
		w(uint32(gtes))       // grain table entries per grain table
		w(uint64(0))          // redundant grain directory offset
		w(gdOffset)           // grain directory offset
		w(uint64(overhead))   // overhead
		w(uint8(0))           // unclean shutdown
		b.WriteString("\n \r\n")
		w(uint16(1)) // deflate
		return pad(b.Bytes(), sector)
	}
	marker := func(numSectors uint64, typ uint32) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.LittleEndian, numSectors)
		_ = binary.Write(&b, binary.LittleEndian, uint32(0)) // size: 0 for metadata markers
		_ = binary.Write(&b, binary.LittleEndian, typ)
		return pad(b.Bytes(), sector)
	}
	var out bytes.Buffer
	out.Write(header(gdAtEnd))
	out.Write(pad([]byte(descriptor), sector))
	out.Write(make([]byte, overhead*sector-out.Len()))
	// The grain directory: one entry per grain table's span, every one 0 (nothing written).
	entries := (sectors + grain*gtes - 1) / (grain * gtes)
	gdSectors := (entries*4 + sector - 1) / sector
	out.Write(marker(gdSectors, markerGD))
	gdOffset := uint64(out.Len() / sector)
	out.Write(make([]byte, gdSectors*sector))
	out.Write(marker(1, markerEnd))
	out.Write(header(gdOffset))
	out.Write(make([]byte, sector)) // end of stream
	return out.Bytes()
}

func pad(b []byte, to int) []byte {
	if r := len(b) % to; r != 0 {
		b = append(b, make([]byte, to-r)...)
	}
	return b
}
