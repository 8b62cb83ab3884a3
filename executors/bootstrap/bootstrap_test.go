package bootstrap

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

const goldenJoin = "kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:4e1a713dff40369e47ec034caecad154156838b8e015e4c7e9f6049f7e8ef720 "

var roles = []string{"control-plane", "worker", "nfs"}

// plain returns the parameters of an ordinary node of the role.
func plain(role string) Params {
	p := Params{ClusterName: "prod", ClusterID: "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30", KubernetesVersion: "v1.29.8",
		CNI: "antrea", CNIVersion: "1.14.0", SSHKey: "ssh-ed25519 AAAAC3Nza tenant@acme",
		NodeName: map[string]string{"control-plane": "mstr-7k2q", "worker": "node-p3xz", "nfs": "nfsd-b8w2"}[role]}
	if role == "worker" {
		p.JoinCommand = goldenJoin
	}
	return p
}

// The rendered user data is what a provider's template runs on a real VCD: changes to it
// show up as diffs here. deploy/scripts/lint-shell.sh shellchecks the scripts of these files.
func TestRenderGolden(t *testing.T) {
	for _, role := range roles {
		t.Run(role, func(t *testing.T) {
			got, err := Render(role, plain(role))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", role+".golden.yaml")
			if *update {
				_ = os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./executors/bootstrap -update)", err)
			}
			if got != string(want) {
				t.Fatalf("%s user data changed:\n%s", role, got)
			}
			if !strings.HasPrefix(got, "#cloud-config\n") {
				t.Fatal("not cloud-config")
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name, role string
		change     func(*Params)
	}{
		{"unknown role", "etcd", func(*Params) {}},
		{"worker without a join command", "worker", func(p *Params) { p.JoinCommand = "" }},
		{"worker with a hostile join command", "worker", func(p *Params) { p.JoinCommand = goldenJoin + "; touch /x" }},
		{"worker with a join command for a control plane", "worker", func(p *Params) { p.JoinCommand = goldenJoin + " --control-plane" }},
		{"node name not a label", "control-plane", func(p *Params) { p.NodeName = "mstr-7k2q\nruncmd:" }},
		{"node name with a dot", "nfs", func(p *Params) { p.NodeName = "nfsd.b8w2" }},
		{"node name too long", "nfs", func(p *Params) { p.NodeName = strings.Repeat("a", 64) }},
		{"cluster id not a UUID", "nfs", func(p *Params) { p.ClusterID = "0d6f2b8a-3c1e-4e7a-9b5d-2f8c4a6e1b30 # x" }},
		{"value not UTF-8", "control-plane", func(p *Params) { p.SSHKey = "ssh-ed25519 \xff\xfe" }},
		{"no Kubernetes version", "control-plane", func(p *Params) { p.KubernetesVersion = "" }},
		{"Kubernetes version not a version", "worker", func(p *Params) { p.KubernetesVersion = "v1.29.8; touch /x" }},
		{"Kubernetes too old", "control-plane", func(p *Params) { p.KubernetesVersion = "v1.21.0" }},
		{"NUL in the CNI name", "control-plane", func(p *Params) { p.CNI = "antrea\x00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plain(tt.role)
			tt.change(&p)
			ud, err := Render(tt.role, p)
			if err == nil {
				t.Fatalf("rendered:\n%s", ud)
			}
			if strings.Contains(err.Error(), "abcdef.0123456789abcdef") {
				t.Fatalf("the error quotes the join token: %v", err)
			}
		})
	}
}

func TestKubeadmAPI(t *testing.T) {
	for v, want := range map[string]string{
		"v1.22.0": "kubeadm.k8s.io/v1beta3", "v1.29.8": "kubeadm.k8s.io/v1beta3", "v1.30.4": "kubeadm.k8s.io/v1beta3",
		"v1.30.4+vmware.1": "kubeadm.k8s.io/v1beta3", "v1.31.0": "kubeadm.k8s.io/v1beta4", "v1.33.1-rc.0": "kubeadm.k8s.io/v1beta4",
		"v1.21.9": "", "1.29.8": "", "v2.0.0": "", "v1.29": "", "v1.29.8\n": "", "v1.29.8 --x": "",
	} {
		got, err := kubeadmAPI(v)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("kubeadmAPI(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
}

// hostile values a tenant could send if nothing checked them first.
func hostile() []string {
	return []string{
		"ssh-ed25519 AAAA x\nruncmd:\n - touch /x",
		"\nruncmd:\n  - [touch, /x]\n",
		"#cloud-config\nruncmd: [[touch, /x]]",
		"10.0.0.0/16; touch /x #",
		"$(touch /x)", "`touch /x`", "${IFS}touch${IFS}/x", "10.0.0.0/16 && touch /x", "a|touch /x",
		`"double" 'single'`, "'", `"`, `\`, `\n`, "it's",
		"a\nb\n\nc\n", "\r\nkey: value\r\n", "trailing space ", " leading space", "\ttab", "\x00nul", "\x1b[31mred", "\x7f",
		"ünïcødé ☃ 🙂", "\u202eright-to-left", "\u2028line\u2029separators", "\ufeffbom", "\u0085next line",
		strings.Repeat("A", 100_000), strings.Repeat("ab\n", 5000),
		"null", "~", "true", "no", "0755", "1e3", ".inf", "0x10", "2001-01-01",
		"- item", "key: value", "{a: b}", "[x, y]", "&anchor x", "*anchor", "!!binary AAAA", "!tag x",
		"%YAML 1.2", "---", "...", "--- !!map\nx: y", "# comment", "|", ">-\n  x", "? key", "@at", ",", "=",
	}
}

// A hostile value renders to user data of exactly the same shape as a plain one: the same
// keys, files, permissions, scripts and runcmd, with the value as one string where the
// plain value was.
func TestHostileValuesStayData(t *testing.T) {
	fields := []struct {
		name string
		set  func(*Params, string)
		// where the value must land (nil: nowhere in this role's user data)
		got func(t *testing.T, role string, ud parsed) []string
	}{
		{"ssh key", func(p *Params, v string) { p.SSHKey = v }, func(t *testing.T, role string, ud parsed) []string {
			return ud.cloud.SSHAuthorizedKeys
		}},
		{"pod CIDR", func(p *Params, v string) { p.PodCIDR = v }, func(t *testing.T, role string, ud parsed) []string {
			if role != "control-plane" {
				return nil
			}
			return []string{ud.cluster(t).Networking.PodSubnet}
		}},
		{"service CIDR", func(p *Params, v string) { p.ServiceCIDR = v }, func(t *testing.T, role string, ud parsed) []string {
			if role != "control-plane" {
				return nil
			}
			return []string{ud.cluster(t).Networking.ServiceSubnet}
		}},
		{"cluster name", func(p *Params, v string) { p.ClusterName = v }, func(t *testing.T, role string, ud parsed) []string {
			if role != "control-plane" {
				return nil
			}
			return []string{ud.cluster(t).ClusterName}
		}},
	}
	for _, role := range roles {
		base, err := Render(role, plain(role))
		if err != nil {
			t.Fatal(err)
		}
		want := parse(t, base)
		for _, f := range fields {
			t.Run(role+"/"+f.name, func(t *testing.T) {
				for _, v := range hostile() {
					p := plain(role)
					f.set(&p, v)
					ud, err := Render(role, p)
					if err != nil {
						t.Fatalf("%.40q: %v", v, err)
					}
					got := parse(t, ud)
					if got.header != want.header {
						t.Errorf("%.40q changed the header comment:\n%s", v, got.header)
					}
					if got.shape != want.shape {
						t.Errorf("%.40q changed the user data's shape:\n%s\nwant\n%s", v, got.shape, want.shape)
					}
					for i, w := range want.cloud.WriteFiles {
						g := got.cloud.WriteFiles[i]
						if g.Path != w.Path || g.Permissions != w.Permissions || (strings.HasPrefix(w.Content, "#!") && g.Content != w.Content) {
							t.Errorf("%.40q changed file %s: %+v", v, w.Path, g)
						}
					}
					if !slices.EqualFunc(got.cloud.RunCmd, want.cloud.RunCmd, slices.Equal) || got.cloud.Hostname != want.cloud.Hostname {
						t.Errorf("%.40q changed runcmd or hostname: %v %q", v, got.cloud.RunCmd, got.cloud.Hostname)
					}
					if got.kubeadmShape != want.kubeadmShape {
						t.Errorf("%.40q changed the kubeadm config's shape:\n%s\nwant\n%s", v, got.kubeadmShape, want.kubeadmShape)
					}
					if at := f.got(t, role, got); at != nil && !slices.Equal(at, []string{v}) {
						t.Errorf("%.40q came out as %.40q", v, at)
					}
				}
			})
		}
	}
}

// parsed is user data as cloud-init and kubeadm read it. The types are the test's own
// (with the field names cloud-init and kubeadm use), not the encoder's.
type parsed struct {
	header string
	cloud  cloudRead
	// kubeadm holds the documents of the kubeadm config file, if there is one.
	kubeadm []kubeadmRead
	// shape and kubeadmShape are the documents' trees with every scalar value replaced by
	// its tag: equal shapes have the same keys, lists of the same lengths, values of the
	// same types.
	shape, kubeadmShape string
}

type cloudRead struct {
	Hostname          string     `json:"hostname"`
	SSHAuthorizedKeys []string   `json:"ssh_authorized_keys"`
	WriteFiles        []fileRead `json:"write_files"`
	RunCmd            [][]string `json:"runcmd"`
}

type fileRead struct {
	Path        string `json:"path"`
	Permissions string `json:"permissions"`
	Content     string `json:"content"`
}

type kubeadmRead struct {
	APIVersion        string `json:"apiVersion"`
	Kind              string `json:"kind"`
	ClusterName       string `json:"clusterName,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Networking        *struct {
		PodSubnet     string `json:"podSubnet"`
		ServiceSubnet string `json:"serviceSubnet"`
	} `json:"networking,omitempty"`
	NodeRegistration *struct {
		Name string `json:"name"`
	} `json:"nodeRegistration,omitempty"`
	Discovery *struct {
		BootstrapToken struct {
			APIServerEndpoint string   `json:"apiServerEndpoint"`
			Token             string   `json:"token"`
			CACertHashes      []string `json:"caCertHashes"`
		} `json:"bootstrapToken"`
	} `json:"discovery,omitempty"`
}

// parse reads user data twice, as YAML 1.2 (go.yaml.in/yaml/v3) and as YAML 1.1
// (sigs.k8s.io/yaml, as kubeadm reads its config; PyYAML in cloud-init is 1.1 too), and
// fails unless both read the same values.
func parse(t *testing.T, ud string) parsed {
	t.Helper()
	var p parsed
	for line := range strings.Lines(ud) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		p.header += line
	}
	p.shape = shapeAndAgree(t, ud)
	if err := sigsyaml.UnmarshalStrict([]byte(ud), &p.cloud); err != nil {
		t.Fatalf("user data as YAML 1.1: %v\n%.2000s", err, ud)
	}
	for _, f := range p.cloud.WriteFiles {
		if f.Path != KubeadmConfigPath {
			continue
		}
		// kubeadm splits its config at "---" lines; a value cannot hold one (values are
		// double-quoted, line ends escaped), which the shape check would catch.
		for doc := range strings.SplitSeq(f.Content, "---\n") {
			p.kubeadmShape += shapeAndAgree(t, doc) + "\n---\n"
			var k kubeadmRead
			if err := sigsyaml.UnmarshalStrict([]byte(doc), &k); err != nil {
				t.Fatalf("kubeadm config as YAML 1.1: %v\n%.2000s", err, doc)
			}
			p.kubeadm = append(p.kubeadm, k)
		}
	}
	return p
}

// shapeAndAgree returns the shape of a YAML document, and fails unless YAML 1.1 and 1.2
// read the same values from it.
func shapeAndAgree(t *testing.T, doc string) string {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatalf("not YAML 1.2: %v\n%.2000s", err, doc)
	}
	var v12 any
	if err := n.Decode(&v12); err != nil {
		t.Fatal(err)
	}
	j12, err := json.Marshal(v12)
	if err != nil {
		t.Fatal(err)
	}
	j11, err := sigsyaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		t.Fatalf("not YAML 1.1: %v\n%.2000s", err, doc)
	}
	if !bytes.Equal(j11, j12) {
		t.Fatalf("YAML 1.1 and 1.2 read different values:\n%.2000s\n%.2000s", j11, j12)
	}
	return shape(&n)
}

func (p parsed) cluster(t *testing.T) kubeadmRead {
	t.Helper()
	for _, k := range p.kubeadm {
		if k.Kind == "ClusterConfiguration" && k.Networking != nil {
			return k
		}
	}
	t.Fatal("no ClusterConfiguration")
	return kubeadmRead{}
}

func shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.DocumentNode:
		return shape(n.Content[0])
	case yaml.MappingNode:
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(n.Content[i].Value + ": " + shape(n.Content[i+1]) + ", ")
		}
		return b.String() + "}"
	case yaml.SequenceNode:
		var b strings.Builder
		b.WriteString("[")
		for _, c := range n.Content {
			b.WriteString(shape(c) + ", ")
		}
		return b.String() + "]"
	case yaml.ScalarNode:
		return n.ShortTag()
	}
	return "?" // aliases: kaas writes none
}

// Every script a node runs passes shellcheck, as rendered for each role (the scripts do
// not change with tenant values: TestHostileValuesStayData) and with a hostile CNI name.
func TestScriptsPassShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (make test installs it, through make lint)")
	}
	dir := t.TempDir()
	var scripts, hostileScripts []string
	for _, role := range roles {
		for i, p := range []Params{plain(role), hostileCNI(role)} {
			ud, err := Render(role, p)
			if err != nil {
				t.Fatal(err)
			}
			for j, f := range parse(t, ud).cloud.WriteFiles {
				if !strings.HasPrefix(f.Content, "#!") {
					continue
				}
				path := filepath.Join(dir, role+"-"+string(rune('a'+i))+"-"+string(rune('0'+j))+".sh")
				if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					scripts = append(scripts, path)
				} else {
					hostileScripts = append(hostileScripts, path)
				}
			}
		}
	}
	if len(scripts) != 2+2+2 || len(hostileScripts) != len(scripts) {
		t.Fatalf("found %d and %d scripts, want 6 and 6", len(scripts), len(hostileScripts))
	}
	out, err := exec.Command(sc, append([]string{"--shell=sh", "--severity=style"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
	// SC2016 notes that $(...) in single quotes is not expanded: that is the point here.
	out, err = exec.Command(sc, append([]string{"--shell=sh", "--severity=style", "--exclude=SC2016"}, hostileScripts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck, hostile CNI name: %v\n%s", err, out)
	}
}

func hostileCNI(role string) Params {
	p := plain(role)
	p.CNI, p.CNIVersion = "antrea'; touch /x; echo '$(id)`id`", "1.14.0\"\n; touch /y"
	return p
}

// The control plane's CNI manifest path reaches kubectl as exactly one word, whatever the
// provider's template calls its CNI.
func TestCNIManifestIsOneWord(t *testing.T) {
	for _, p := range []Params{plain("control-plane"), hostileCNI("control-plane")} {
		ud, err := Render("control-plane", p)
		if err != nil {
			t.Fatal(err)
		}
		var script string
		for _, f := range parse(t, ud).cloud.WriteFiles {
			if f.Path == BootstrapPath {
				script = f.Content
			}
		}
		// The assignment runs from "manifest=" to the kubectl line (the quoted word may hold
		// line ends).
		_, assign, ok := strings.Cut(script, "\nmanifest=")
		assign, _, ok2 := strings.Cut(assign, "\nkubectl apply")
		if !ok || !ok2 {
			t.Fatalf("no manifest line in\n%s", script)
		}
		out, err := exec.Command("/bin/sh", "-c", "manifest="+assign+"\n"+`printf '%s' "$manifest"`).Output()
		want := "/opt/kaas/cni/" + p.CNI + "-" + p.CNIVersion + ".yaml"
		if err != nil || string(out) != want {
			t.Errorf("manifest line %q gives %q, %v; want %q", assign, out, err, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	shells := []string{"/bin/sh"}
	if bash, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, bash)
	}
	for _, s := range append(hostile()[:len(hostile())-1], "", "'''", "\xff\xfe not UTF-8", "a'b\"c$d`e\\f!g*h?i[j]k{l}m~n#o&p|q;r<s>t(u)v w\nx") {
		if strings.ContainsRune(s, 0) {
			continue
		}
		q, err := shellQuote(s)
		if err != nil {
			t.Fatalf("%.40q: %v", s, err)
		}
		for _, sh := range shells {
			out, err := exec.Command(sh, "-c", "printf '%s' "+q).Output()
			if err != nil || string(out) != s {
				t.Errorf("%s: %.40q quoted as %.60s reads back as %.40q (%v)", sh, s, q, out, err)
			}
		}
	}
	if _, err := shellQuote("a\x00b"); err == nil {
		t.Error("quoted a NUL byte")
	}
}

// cloud-init reads user data with PyYAML, whose YAML 1.1 has corners the Go readers lack
// (a bare "=" is an error there). PyYAML reads every rendering, plain and hostile, to the
// same values as the Go readers.
func TestPyYAMLReadsTheUserData(t *testing.T) {
	python := ""
	for _, py := range []string{"python3", "/usr/bin/python3"} { // as deploy/scripts/ensure-pyyaml.sh looks
		if exec.Command(py, "-c", "import yaml").Run() == nil {
			python = py
			break
		}
	}
	if python == "" {
		t.Fatal("no python3 with PyYAML, cloud-init's YAML reader (make test installs it: deploy/scripts/ensure-pyyaml.sh)")
	}
	dir := t.TempDir()
	var want []parsed
	for _, role := range roles {
		for _, v := range append(hostile(), "") {
			p := plain(role)
			if v != "" {
				p.SSHKey, p.PodCIDR, p.ServiceCIDR, p.ClusterName = v, v+"1", v+"2", v+"3"
			}
			ud, err := Render(role, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.yaml", len(want))), []byte(ud), 0o600); err != nil {
				t.Fatal(err)
			}
			want = append(want, parse(t, ud))
		}
	}
	const script = `
import glob, json, sys, yaml
for name in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    with open(name, encoding="utf-8") as f:
        cloud = yaml.safe_load(f)
    docs = []
    for wf in cloud.get("write_files", []):
        if wf["path"] == "` + KubeadmConfigPath + `":
            docs = list(yaml.safe_load_all(wf["content"]))
    print(json.dumps({"cloud": cloud, "kubeadm": docs}))
`
	out, err := exec.Command(python, "-c", script, dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("PyYAML: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("PyYAML read %d files of %d", len(lines), len(want))
	}
	for i, line := range lines {
		var got struct {
			Cloud   cloudRead     `json:"cloud"`
			Kubeadm []kubeadmRead `json:"kubeadm"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if len(got.Kubeadm) == 0 {
			got.Kubeadm = nil // an NFS node has no kubeadm config
		}
		if !reflect.DeepEqual(got.Cloud, want[i].cloud) || !reflect.DeepEqual(got.Kubeadm, want[i].kubeadm) {
			t.Errorf("file %d: PyYAML reads %.300v\nGo reads %.300v", i, got, want[i])
		}
	}
}

// FuzzRenderKeepsShape renders every role with arbitrary tenant values and checks that
// whatever renders has the plain user data's shape, scripts and commands, with each value
// coming out as the string it went in as: no value can add a key, a file or a command.
func FuzzRenderKeepsShape(f *testing.F) {
	for _, v := range hostile() {
		f.Add(v, v, v, v)
	}
	f.Add("ssh-ed25519 AAAA a@b", "10.244.0.0/16", "10.96.0.0/12", "prod")
	want := map[string]parsed{}
	for _, role := range roles {
		ud, err := Render(role, plain(role))
		if err != nil {
			f.Fatal(err)
		}
		want[role] = parse(&testing.T{}, ud)
	}
	f.Fuzz(func(t *testing.T, key, pods, services, name string) {
		for _, role := range roles {
			// An empty value means "not given" (no key, the default blocks), which has a
			// shape of its own; the tenant's name is never empty.
			p := plain(role)
			for _, f := range []struct {
				dst *string
				v   string
			}{{&p.SSHKey, key}, {&p.PodCIDR, pods}, {&p.ServiceCIDR, services}, {&p.ClusterName, name}} {
				if f.v != "" {
					*f.dst = f.v
				}
			}
			ud, err := Render(role, p)
			if err != nil {
				continue // refused (not UTF-8): nothing reaches a node
			}
			got, w := parse(t, ud), want[role]
			if got.header != w.header || got.shape != w.shape || got.kubeadmShape != w.kubeadmShape || got.cloud.Hostname != w.cloud.Hostname ||
				!slices.EqualFunc(got.cloud.RunCmd, w.cloud.RunCmd, slices.Equal) || len(got.cloud.WriteFiles) != len(w.cloud.WriteFiles) {
				t.Fatalf("%s: the values changed the user data's structure:\n%s", role, ud)
			}
			for i, wf := range w.cloud.WriteFiles {
				g := got.cloud.WriteFiles[i]
				if g.Path != wf.Path || g.Permissions != wf.Permissions || (strings.HasPrefix(wf.Content, "#!") && g.Content != wf.Content) {
					t.Fatalf("%s: file %s changed: %+v", role, wf.Path, g)
				}
			}
			if !slices.Equal(got.cloud.SSHAuthorizedKeys, []string{p.SSHKey}) {
				t.Fatalf("%s: the key came out as %q", role, got.cloud.SSHAuthorizedKeys)
			}
			if role == "control-plane" {
				c := got.cluster(t)
				if c.Networking.PodSubnet != cmp.Or(p.PodCIDR, DefaultPodCIDR) || c.Networking.ServiceSubnet != cmp.Or(p.ServiceCIDR, DefaultServiceCIDR) || c.ClusterName != p.ClusterName {
					t.Fatalf("values came out as %+v %q", *c.Networking, c.ClusterName)
				}
			}
		}
	})
}
