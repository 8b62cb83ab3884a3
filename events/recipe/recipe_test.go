package recipe

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kaasproject/kaas/events"
)

// example is the contract's recipe file.
const example = `# A comment, as providers write them.
name: ubuntu-22.04_k8s-1.30_antrea-1.15
description: Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1
os: ubuntu-22.04
base:
  name: ubuntu-22.04-server-cloudimg-amd64
  ova: https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova
kubernetesVersion: v1.30.4
containerdVersion: 1.7.20
cni:
  name: antrea
  version: 1.15.1
  manifest: https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml
rules:
  cpu: 2
  memoryMb: 4096
  sizingPolicy: medium
scripts:
  - name: motd
    run: |
      #!/bin/sh
      echo "Built by kaas" > /etc/motd
`

func exampleRecipe() events.Recipe {
	return events.Recipe{
		Name:        "ubuntu-22.04_k8s-1.30_antrea-1.15",
		Description: "Kubernetes v1.30.4 on Ubuntu 22.04 with Antrea 1.15.1",
		OS:          "ubuntu-22.04",
		Base: events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64",
			OVA: "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		KubernetesVersion: "v1.30.4",
		ContainerdVersion: "1.7.20",
		CNI: events.RecipeCNI{Name: "antrea", Version: "1.15.1",
			Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Rules:   events.TemplateRules{CPU: 2, MemoryMB: 4096, SizingPolicy: "medium"},
		Scripts: []events.RecipeScript{{Name: "motd", Run: "#!/bin/sh\necho \"Built by kaas\" > /etc/motd\n"}},
	}
}

func TestParse(t *testing.T) {
	asJSON, err := json.Marshal(exampleRecipe())
	if err != nil {
		t.Fatal(err)
	}
	minimal := events.Recipe{Name: "t", OS: "ubuntu-24.04", Base: events.BaseImage{Name: "b"}, KubernetesVersion: "v1.31.1",
		ContainerdVersion: "1.7.22", CNI: events.RecipeCNI{Name: "calico", Version: "3.28.2", Manifest: "https://x/c.yaml"}}
	tests := []struct {
		name, in string
		want     events.Recipe
		err      string // a part of the error; "" when it parses
	}{
		{"the contract's YAML", example, exampleRecipe(), ""},
		{"the same as JSON", string(asJSON), exampleRecipe(), ""},
		{"minimal", "name: t\nos: ubuntu-24.04\nbase: {name: b}\nkubernetesVersion: v1.31.1\ncontainerdVersion: 1.7.22\n" +
			"cni: {name: calico, version: 3.28.2, manifest: 'https://x/c.yaml'}\nscripts: []\n", minimal, ""},
		{"document start marker", "---\n" + example, exampleRecipe(), ""},
		{"unknown key", example + "kubernetes: v1.30.4\n", events.Recipe{}, "kubernetes: unknown key"},
		{"unknown nested key", strings.Replace(example, "  version: 1.15.1", "  version: 1.15.1\n  manifests: x", 1), events.Recipe{}, "cni.manifests: unknown key"},
		{"unknown key in a script", example + "    shell: bash\n", events.Recipe{}, "scripts[0].shell: unknown key"},
		{"key in another case", strings.Replace(example, "kubernetesVersion:", "KubernetesVersion:", 1), events.Recipe{}, "KubernetesVersion: unknown key"},
		{"duplicate key", example + "name: other\n", events.Recipe{}, `key "name" already set`},
		{"two documents", example + "---\n" + example, events.Recipe{}, "more than one YAML document"},
		{"empty", "", events.Recipe{}, "empty"},
		{"only a comment", "# nothing\n", events.Recipe{}, ""}, // an error of some kind
		{"a list", "- name: x\n", events.Recipe{}, "not a mapping"},
		{"a number for a string", strings.Replace(example, "kubernetesVersion: v1.30.4", "kubernetesVersion: 1.30", 1), events.Recipe{}, "kubernetesVersion"},
		{"a string for a number", strings.Replace(example, "cpu: 2", "cpu: two", 1), events.Recipe{}, "cpu"},
		{"a float for a number", strings.Replace(example, "cpu: 2", "cpu: 2.5", 1), events.Recipe{}, "cpu"},
		{"not YAML", "name: [", events.Recipe{}, "yaml"},
		{"too large", example + "description2: " + strings.Repeat("x", MaxSize), events.Recipe{}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			wantErr := tt.err != "" || reflect.DeepEqual(tt.want, events.Recipe{})
			if wantErr {
				if err == nil {
					t.Fatalf("parsed: %+v", got)
				}
				if !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "recipe: ") {
					t.Fatalf("error %q, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if err := Validate(got); err != nil {
				t.Fatalf("does not validate: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*events.Recipe)
		faults []string // the fields at fault, in order; none when valid
	}{
		{"the example", func(*events.Recipe) {}, nil},
		{"no scripts, no rules, no description", func(r *events.Recipe) {
			r.Scripts, r.Rules, r.Description = nil, events.TemplateRules{}, ""
		}, nil},
		{"base image already in the catalog", func(r *events.Recipe) { r.Base.OVA = "" }, nil},
		{"OVA file with checksum", func(r *events.Recipe) {
			r.Base.OVA, r.Base.SHA256 = "/srv/ova/ubuntu-22.04.ova", strings.Repeat("ab", 32)
		}, nil},
		{"debian", func(r *events.Recipe) { r.OS = "debian-12" }, nil},
		{"ubuntu 24.04, Kubernetes 1.31, calico", func(r *events.Recipe) {
			r.OS, r.KubernetesVersion, r.CNI = "ubuntu-24.04", "v1.31.1",
				events.RecipeCNI{Name: "calico", Version: "3.28.2", Manifest: "https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/calico.yaml"}
		}, nil},
		{"nine scripts", func(r *events.Recipe) {
			r.Scripts = nil
			for i := range MaxScripts {
				r.Scripts = append(r.Scripts, events.RecipeScript{Name: "s" + string(rune('0'+i)), Run: "#!/bin/sh\ntrue\n"})
			}
		}, nil},
		{"everything missing", func(r *events.Recipe) { *r = events.Recipe{} },
			[]string{"name", "os", "base.name", "kubernetesVersion", "containerdVersion", "cni.name", "cni.version", "cni.manifest"}},
		{"name with a space", func(r *events.Recipe) { r.Name = "ubuntu 22.04" }, []string{"name"}},
		{"name with a slash", func(r *events.Recipe) { r.Name = "a/b" }, []string{"name"}},
		{"name too long", func(r *events.Recipe) { r.Name = strings.Repeat("a", 101) }, []string{"name"}},
		{"name starting with a dot", func(r *events.Recipe) { r.Name = ".hidden" }, []string{"name"}},
		{"description on two lines", func(r *events.Recipe) { r.Description = "a\nb" }, []string{"description"}},
		{"description not UTF-8", func(r *events.Recipe) { r.Description = "\xff" }, []string{"description"}},
		{"description too long", func(r *events.Recipe) { r.Description = strings.Repeat("d", 1025) }, []string{"description"}},
		{"photon is not built", func(r *events.Recipe) { r.OS = "photon-5" }, []string{"os"}},
		{"os with a shell word", func(r *events.Recipe) { r.OS = "ubuntu-22.04;x" }, []string{"os"}},
		{"base name with a quote", func(r *events.Recipe) { r.Base.Name = "ubuntu'" }, []string{"base.name"}},
		{"OVA over http", func(r *events.Recipe) { r.Base.OVA = "http://cloud-images.ubuntu.com/x.ova" }, []string{"base.ova"}},
		{"OVA relative path", func(r *events.Recipe) { r.Base.OVA = "images/x.ova" }, []string{"base.ova"}},
		{"OVA unclean path", func(r *events.Recipe) { r.Base.OVA = "/srv/../etc/x.ova" }, []string{"base.ova"}},
		{"OVA URL with credentials", func(r *events.Recipe) { r.Base.OVA = "https://u:p@example.com/x.ova" }, []string{"base.ova"}},
		{"OVA URL without a host", func(r *events.Recipe) { r.Base.OVA = "https:///x.ova" }, []string{"base.ova"}},
		{"checksum upper case", func(r *events.Recipe) { r.Base.SHA256 = strings.Repeat("AB", 32) }, []string{"base.sha256"}},
		{"checksum short", func(r *events.Recipe) { r.Base.SHA256 = "abc" }, []string{"base.sha256"}},
		{"checksum without an OVA", func(r *events.Recipe) { r.Base.OVA, r.Base.SHA256 = "", strings.Repeat("ab", 32) }, []string{"base.sha256"}},
		{"Kubernetes without v", func(r *events.Recipe) { r.KubernetesVersion = "1.30.4" }, []string{"kubernetesVersion"}},
		{"Kubernetes minor only", func(r *events.Recipe) { r.KubernetesVersion = "v1.30" }, []string{"kubernetesVersion"}},
		{"Kubernetes with a suffix", func(r *events.Recipe) { r.KubernetesVersion = "v1.30.4+vmware.1" }, []string{"kubernetesVersion"}},
		{"Kubernetes too old for pkgs.k8s.io", func(r *events.Recipe) { r.KubernetesVersion = "v1.23.17" }, []string{"kubernetesVersion"}},
		{"Kubernetes 2", func(r *events.Recipe) { r.KubernetesVersion = "v2.0.0" }, []string{"kubernetesVersion"}},
		{"containerd with v", func(r *events.Recipe) { r.ContainerdVersion = "v1.7.20" }, []string{"containerdVersion"}},
		{"containerd with the package revision", func(r *events.Recipe) { r.ContainerdVersion = "1.7.20-1" }, []string{"containerdVersion"}},
		{"CNI name upper case", func(r *events.Recipe) { r.CNI.Name = "Antrea" }, []string{"cni.name"}},
		{"CNI name a path", func(r *events.Recipe) { r.CNI.Name = "../../etc/passwd" }, []string{"cni.name"}},
		{"CNI version not one", func(r *events.Recipe) { r.CNI.Version = "latest" }, []string{"cni.version"}},
		{"manifest over http", func(r *events.Recipe) { r.CNI.Manifest = "http://example.com/antrea.yml" }, []string{"cni.manifest"}},
		{"manifest a file", func(r *events.Recipe) { r.CNI.Manifest = "/opt/antrea.yml" }, []string{"cni.manifest"}},
		{"manifest with a space", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/a b.yml" }, []string{"cni.manifest"}},
		{"manifest with a fragment", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/a.yml#x" }, []string{"cni.manifest"}},
		{"manifest too long", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/" + strings.Repeat("a", 2048) }, []string{"cni.manifest"}},
		{"negative CPU", func(r *events.Recipe) { r.Rules.CPU = -1 }, []string{"rules.cpu"}},
		{"too many CPUs", func(r *events.Recipe) { r.Rules.CPU = MaxCPU + 1 }, []string{"rules.cpu"}},
		{"too little memory", func(r *events.Recipe) { r.Rules.MemoryMB = 256 }, []string{"rules.memoryMb"}},
		{"negative memory", func(r *events.Recipe) { r.Rules.MemoryMB = -4096 }, []string{"rules.memoryMb"}},
		{"policy on two lines", func(r *events.Recipe) { r.Rules.SizingPolicy = "a\nb" }, []string{"rules.sizingPolicy"}},
		{"policy with spaces around", func(r *events.Recipe) { r.Rules.SizingPolicy = " medium" }, []string{"rules.sizingPolicy"}},
		{"script name with a dot", func(r *events.Recipe) { r.Scripts[0].Name = "motd.sh" }, []string{"scripts[0].name"}},
		{"script name empty", func(r *events.Recipe) { r.Scripts[0].Name = "" }, []string{"scripts[0].name"}},
		{"script without a shebang", func(r *events.Recipe) { r.Scripts[0].Run = "echo hi\n" }, []string{"scripts[0].run"}},
		{"script with CRLF", func(r *events.Recipe) { r.Scripts[0].Run = "#!/bin/sh\r\necho hi\r\n" }, []string{"scripts[0].run"}},
		{"script with a NUL", func(r *events.Recipe) { r.Scripts[0].Run = "#!/bin/sh\necho \x00\n" }, []string{"scripts[0].run"}},
		{"script not UTF-8", func(r *events.Recipe) { r.Scripts[0].Run = "#!/bin/sh\necho \xff\n" }, []string{"scripts[0].run"}},
		{"two scripts of one name", func(r *events.Recipe) { r.Scripts = append(r.Scripts, r.Scripts[0]) }, []string{"scripts[1].name"}},
		{"ten scripts", func(r *events.Recipe) {
			for i := range MaxScripts {
				r.Scripts = append(r.Scripts, events.RecipeScript{Name: "s" + string(rune('0'+i)), Run: "#!/bin/sh\n"})
			}
		}, []string{"scripts"}},
		{"scripts too large", func(r *events.Recipe) {
			r.Scripts = append(r.Scripts, events.RecipeScript{Name: "big", Run: "#!/bin/sh\n#" + strings.Repeat("x", MaxScriptsSize)})
		}, []string{"scripts"}},
		{"several faults", func(r *events.Recipe) {
			r.Name, r.CNI.Manifest, r.Rules.CPU = "", "ftp://x", -2
		}, []string{"name", "cni.manifest", "rules.cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exampleRecipe()
			tt.change(&r)
			checkFaults(t, Validate(r), tt.faults)
		})
	}
}

// checkFaults checks that err is one FieldError per field of want, in order.
func checkFaults(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want faults in %q", want)
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var got []string
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a FieldError", e)
		}
		if !strings.HasPrefix(e.Error(), fe.Field+": ") || fe.Problem == "" {
			t.Errorf("%q does not name its field first", e)
		}
		got = append(got, fe.Field)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("faults in %q, want %q: %v", got, want, err)
	}
}

func TestValidateImport(t *testing.T) {
	valid := func() events.Template {
		return events.Template{Name: "tkgm-ubuntu-2004", Revision: 1, KubernetesVersion: "v1.20.8+vmware.1", OS: "ubuntu-20.04",
			CNI: events.Component{Name: "antrea", Version: "0.11.3"}, ContainerdVersion: "1.4.6", Description: "TKGm 1.4",
			Rules: events.TemplateRules{CPU: 2, MemoryMB: 2048}}
	}
	const ova, sum = "/srv/ova/tkgm.ova", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		change   func(*events.Template)
		ova, sum string
		faults   []string
	}{
		{"TKGm OVA file", func(*events.Template) {}, ova, sum, nil},
		{"URL without checksum", func(t *events.Template) { t.ContainerdVersion, t.Rules = "", events.TemplateRules{} },
			"https://example.com/a.ova", "", nil},
		{"photon", func(t *events.Template) { t.OS = "photon-3" }, ova, "", nil},
		{"plain version", func(t *events.Template) { t.KubernetesVersion = "v1.30.4" }, ova, "", nil},
		{"revision 0", func(t *events.Template) { t.Revision = 0 }, ova, "", []string{"revision"}},
		{"everything missing", func(t *events.Template) { *t = events.Template{} }, "", "",
			[]string{"name", "revision", "kubernetes_version", "os", "cni", "cni_version", "ova"}},
		{"bad values", func(t *events.Template) {
			t.Name, t.KubernetesVersion, t.OS, t.CNI.Name, t.CNI.Version, t.ContainerdVersion, t.Description =
				"a b", "v1.20", "Ubuntu 20.04", "Antrea", "x", "1.4", "two\nlines"
			t.Rules = events.TemplateRules{CPU: -1, MemoryMB: 100, SizingPolicy: "\tx"}
		}, "ftp://x/a.ova", "ABC", []string{"name", "kubernetes_version", "os", "cni", "cni_version", "containerd_version",
			"description", "cpu", "memory_mb", "sizing_policy", "ova", "sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := valid()
			tt.change(&tm)
			checkFaults(t, ValidateImport(tm, tt.ova, tt.sum), tt.faults)
		})
	}
}

// The repository's way of writing the recipe (YAML, block scalars) and JSON read the same.
func TestMarshalRoundTrip(t *testing.T) {
	for _, run := range []string{
		exampleRecipe().Scripts[0].Run,
		"#!/bin/sh",
		"#!/bin/sh\n\n\n",
		"#!/bin/sh\n  indented\n\ttabbed \nend   ",
		"#!/bin/sh\necho \u2028 line separator \u2029 paragraph \ufeff bom\n",
		"#!/bin/sh\necho '--- ...' \"# not a comment\" : x\n- y\n",
	} {
		r := exampleRecipe()
		r.Scripts[0].Run = run
		if err := Validate(r); err != nil {
			t.Fatal(err)
		}
		for name, marshal := range map[string]func(any) ([]byte, error){"json": json.Marshal, "yaml": sigsyaml.Marshal} {
			b, err := marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil || !reflect.DeepEqual(got, r) {
				t.Errorf("%s: %+v, %v\n%s", name, got, err, b)
			}
		}
	}
}

// FuzzParse: Parse never panics, and a recipe that Parse and Validate accept is read
// back the same from its JSON and its YAML.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	if b, err := json.Marshal(exampleRecipe()); err == nil {
		f.Add(b)
	}
	f.Add([]byte("name: x\n---\nname: y\n"))
	f.Add([]byte("{\"name\": \"x\", \"NAME\": \"y\"}"))
	f.Add([]byte("scripts:\n  - name: a\n    run: \"#!/bin/sh\\r\\n\\u0085\"\n"))
	f.Add([]byte("rules: {cpu: 1e3}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil || Validate(r) != nil {
			return
		}
		for name, marshal := range map[string]func(any) ([]byte, error){"json": json.Marshal, "yaml": sigsyaml.Marshal} {
			b, err := marshal(r)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			back, err := Parse(b)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, b)
			}
			if !reflect.DeepEqual(back, r) {
				t.Fatalf("%s: read back as %+v\nwas %+v", name, back, r)
			}
		}
	})
}
