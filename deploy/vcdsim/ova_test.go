package vcdsim_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// WriteOVA makes the same OVA for the same image, laid out as Ubuntu's: the descriptor
// first, a manifest of the members' SHA-256 sums, the disk; the descriptor is golden.
func TestWriteOVA(t *testing.T) {
	for _, tc := range []struct {
		golden string
		img    vcdsim.BaseImage
	}{
		{"ova-ubuntu-22.04.golden.ovf", vcdsim.BaseImage{OS: "ubuntu-22.04"}},
		{"ova-ready-made.golden.ovf", vcdsim.BaseImage{OS: "ubuntu-24.04", KubernetesVersion: "v1.31.2", ContainerdVersion: "1.7.22",
			CNI: "calico", CNIVersion: "3.28.2", CPU: 4, MemoryMB: 8192}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := vcdsim.WriteOVA(&a, tc.img); err != nil {
				t.Fatal(err)
			}
			if err := vcdsim.WriteOVA(&b, tc.img); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("two OVAs of one image differ (%v)", err)
			}
			members := untar(t, a.Bytes())
			var ovf, mf string
			for name := range members {
				switch filepath.Ext(name) {
				case ".ovf":
					ovf = name
				case ".mf":
					mf = name
				}
			}
			if len(members) != 3 || ovf == "" || mf == "" {
				t.Fatalf("members %v", len(members))
			}
			var want bytes.Buffer
			for _, name := range []string{ovf, ovf[:len(ovf)-4] + ".vmdk"} {
				sum := sha256.Sum256(members[name])
				fmt.Fprintf(&want, "SHA256(%s)= %s\n", name, hex.EncodeToString(sum[:]))
			}
			if string(members[mf]) != want.String() {
				t.Fatalf("manifest %q, want %q", members[mf], want.String())
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, members[ovf], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(golden, members[ovf]) {
				t.Fatalf("%s differs (%v): run with -update and review\n%s", path, err, members[ovf])
			}
		})
	}
	if err := vcdsim.WriteOVA(&bytes.Buffer{}, vcdsim.BaseImage{OS: "windows-11"}); err == nil {
		t.Fatal("an OVA of an OS WriteOVA does not know")
	}
}
