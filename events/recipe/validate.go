package recipe

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kaasproject/kaas/events"
)

// FieldError is one fault of a recipe or an import request: the field (as the recipe file
// names it: cni.manifest, scripts[1].name) and what is wrong with its value.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Bounds of what a recipe may ask for.
const (
	// MaxScripts is how many scripts a recipe may have: their files are numbered 10 to 90
	// in /etc/kaas/build.d, so that a listing shows them in the order they run.
	MaxScripts = 9
	// MaxScriptsSize bounds the provider's scripts together: they travel in the build VM's
	// user data.
	MaxScriptsSize = 32 << 10
	// MaxCPU and MaxMemoryMB bound the template rules (a VM larger than any host is a typo).
	MaxCPU      = 256
	MaxMemoryMB = 4 << 20
	// MinMemoryMB is the least memory a rule may give a node: kubelet and containerd need it.
	MinMemoryMB = 512
)

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	kubernetesRE = regexp.MustCompile(`^v([0-9]{1,4})\.([0-9]{1,4})\.[0-9]{1,4}$`)
	// An imported OVA's Kubernetes may carry its vendor's suffix, v1.20.8+vmware.1, as
	// kaas's bootstrap accepts.
	importKubernetesRE = regexp.MustCompile(`^v1\.[0-9]{1,4}\.[0-9]{1,4}([-+][0-9A-Za-z.-]{1,40})?$`)
	containerdRE       = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$`)
	importContainerdRE = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}([-+~][0-9A-Za-z.-]{1,40})?$`)
	cniNameRE          = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	cniVersionRE       = regexp.MustCompile(`^v?[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}([-+][0-9A-Za-z.]{1,40})?$`)
	// A build's OS is one apt-based distribution kaas-build installs on, with its release.
	buildOSRE = regexp.MustCompile(`^(ubuntu|debian)-[0-9]{1,4}(\.[0-9]{1,4})?$`)
	// An imported template's OS is the provider's word for it: photon-3, ubuntu-20.04.
	osRE         = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}(-[0-9a-z][0-9a-z.]{0,19})?$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	scriptNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
)

// minKubernetesMinor is the oldest Kubernetes pkgs.k8s.io, where builds install it from,
// has packages of.
const minKubernetesMinor = 24

// faults gathers the faults of one value.
type faults []error

func (f *faults) add(field, format string, args ...any) {
	*f = append(*f, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (f faults) err() error { return errors.Join(f...) }

// Validate checks every field of a recipe, as kaas builds it: a template name and a base
// image name VCD and CSE accept, versions that name packages (v1.30.4, 1.7.20, 1.15.1), an
// https CNI manifest, an OVA given as an https URL or an absolute file path, a SHA-256 of
// 64 lowercase hex digits, template rules within bounds, and the provider's scripts (named
// ^[a-z0-9][a-z0-9-]{0,39}$, unique, starting with #!, text). It returns nil or one
// FieldError per fault, joined.
func Validate(r events.Recipe) error {
	var f faults
	templateName(&f, "name", r.Name)
	description(&f, "description", r.Description)
	switch {
	case r.OS == "":
		f.add("os", "missing (ubuntu-22.04)")
	case !buildOSRE.MatchString(r.OS):
		f.add("os", "kaas builds on Ubuntu or Debian, named like ubuntu-22.04, not %q", clip(r.OS))
	}
	switch {
	case r.Base.Name == "":
		f.add("base.name", "missing: the base image's catalog item name")
	case !nameRE.MatchString(r.Base.Name):
		f.add("base.name", "must match %s", nameRE)
	}
	if r.Base.OVA != "" {
		ova(&f, "base.ova", r.Base.OVA)
	}
	if r.Base.SHA256 != "" {
		if r.Base.OVA == "" {
			f.add("base.sha256", "given without base.ova")
		}
		checksum(&f, "base.sha256", r.Base.SHA256)
	}
	switch m := kubernetesRE.FindStringSubmatch(r.KubernetesVersion); {
	case r.KubernetesVersion == "":
		f.add("kubernetesVersion", "missing (v1.30.4)")
	case m == nil:
		f.add("kubernetesVersion", "must be vMAJOR.MINOR.PATCH (v1.30.4), not %q", clip(r.KubernetesVersion))
	default:
		if minor, _ := strconv.Atoi(m[2]); m[1] != "1" || minor < minKubernetesMinor {
			f.add("kubernetesVersion", "kaas builds Kubernetes v1.%d or later, from pkgs.k8s.io", minKubernetesMinor)
		}
	}
	switch {
	case r.ContainerdVersion == "":
		f.add("containerdVersion", "missing (1.7.20)")
	case !containerdRE.MatchString(r.ContainerdVersion):
		f.add("containerdVersion", "must be MAJOR.MINOR.PATCH (1.7.20), not %q", clip(r.ContainerdVersion))
	}
	cni(&f, "cni.name", "cni.version", r.CNI.Name, r.CNI.Version)
	httpsURL(&f, "cni.manifest", r.CNI.Manifest)
	rules(&f, r.Rules)
	scripts(&f, r.Scripts)
	return f.err()
}

// ValidateImport checks a request to import an OVA as a template revision: the
// template's name, revision (1 or more), Kubernetes version (a vendor's suffix allowed:
// v1.20.8+vmware.1), OS, CNI and its version, containerd version (optional), description
// and rules; the OVA (an https URL or an absolute file path) and its SHA-256 (optional).
func ValidateImport(t events.Template, ovaLocation, sha256 string) error {
	var f faults
	templateName(&f, "name", t.Name)
	if t.Revision < 1 {
		f.add("revision", "must be 1 or more, not %d", t.Revision)
	}
	switch {
	case t.KubernetesVersion == "":
		f.add("kubernetes_version", "missing (v1.30.4)")
	case !importKubernetesRE.MatchString(t.KubernetesVersion):
		f.add("kubernetes_version", "must be v1.MINOR.PATCH, with an optional suffix (v1.30.4, v1.20.8+vmware.1), not %q", clip(t.KubernetesVersion))
	}
	switch {
	case t.OS == "":
		f.add("os", "missing (ubuntu-22.04, photon-3)")
	case !osRE.MatchString(t.OS):
		f.add("os", "must be a name and a release, like ubuntu-22.04 or photon-3, not %q", clip(t.OS))
	}
	cni(&f, "cni", "cni_version", t.CNI.Name, t.CNI.Version)
	if t.ContainerdVersion != "" && !importContainerdRE.MatchString(t.ContainerdVersion) {
		f.add("containerd_version", "must be MAJOR.MINOR.PATCH (1.7.20), not %q", clip(t.ContainerdVersion))
	}
	description(&f, "description", t.Description)
	importRules(&f, t.Rules)
	if ovaLocation == "" {
		f.add("ova", "missing: an https URL or an absolute file path")
	} else {
		ova(&f, "ova", ovaLocation)
	}
	if sha256 != "" {
		checksum(&f, "sha256", sha256)
	}
	return f.err()
}

func templateName(f *faults, field, name string) {
	switch {
	case name == "":
		f.add(field, "missing")
	case !nameRE.MatchString(name):
		f.add(field, "must match %s, not %q", nameRE, clip(name))
	}
}

// description is shown in VCD and CSE's listings: one line of printable text.
func description(f *faults, field, d string) {
	switch {
	case len(d) > 1024:
		f.add(field, "longer than 1024 bytes")
	case !utf8.ValidString(d):
		f.add(field, "not UTF-8 text")
	case strings.IndexFunc(d, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		f.add(field, "must be one line of printable text")
	}
}

func cni(f *faults, nameField, versionField, name, version string) {
	switch {
	case name == "":
		f.add(nameField, "missing (antrea, calico)")
	case !cniNameRE.MatchString(name):
		f.add(nameField, "must match %s, not %q", cniNameRE, clip(name))
	}
	switch {
	case version == "":
		f.add(versionField, "missing (1.15.1)")
	case !cniVersionRE.MatchString(version):
		f.add(versionField, "must be MAJOR.MINOR.PATCH (1.15.1), not %q", clip(version))
	}
}

// ova is where an OVA comes from: a URL VCD downloads, or a file on kaasd's host.
func ova(f *faults, field, s string) {
	if strings.HasPrefix(s, "/") {
		switch {
		case len(s) > 4096:
			f.add(field, "a path longer than 4096 bytes")
		case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
			f.add(field, "a path with control characters or not UTF-8")
		case path.Clean(s) != s || strings.HasSuffix(s, "/"):
			f.add(field, "must be a clean absolute file path (%s)", path.Clean(s))
		}
		return
	}
	if !isHTTPS(s) {
		f.add(field, "must be an https URL or an absolute file path, not %q", clip(s))
	}
}

func httpsURL(f *faults, field, s string) {
	switch {
	case s == "":
		f.add(field, "missing: an https URL")
	case !isHTTPS(s):
		f.add(field, "must be an https URL, not %q", clip(s))
	}
}

// isHTTPS accepts an absolute https URL with a host, no credentials and no fragment,
// written as it is sent (no space or control character to escape).
func isHTTPS(s string) bool {
	if len(s) > 2048 || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.Hostname() != "" && u.User == nil && u.Fragment == "" &&
		!strings.Contains(s, "#") && strings.HasPrefix(s, "https://")
}

func checksum(f *faults, field, s string) {
	if !sha256RE.MatchString(s) {
		f.add(field, "must be a SHA-256: 64 lowercase hex digits")
	}
}

func rules(f *faults, r events.TemplateRules) {
	rulesAt(f, "rules.cpu", "rules.memoryMb", "rules.sizingPolicy", r)
}

func importRules(f *faults, r events.TemplateRules) {
	rulesAt(f, "cpu", "memory_mb", "sizing_policy", r)
}

func rulesAt(f *faults, cpuField, memoryField, policyField string, r events.TemplateRules) {
	if r.CPU < 0 || r.CPU > MaxCPU {
		f.add(cpuField, "must be 0 (the template VM's) to %d, not %d", MaxCPU, r.CPU)
	}
	if r.MemoryMB != 0 && (r.MemoryMB < MinMemoryMB || r.MemoryMB > MaxMemoryMB) {
		f.add(memoryField, "must be 0 (the template VM's) or %d to %d, not %d", MinMemoryMB, MaxMemoryMB, r.MemoryMB)
	}
	// A VM sizing policy is named by the provider in VCD: any one-line name.
	p := r.SizingPolicy
	switch {
	case len(p) > 128:
		f.add(policyField, "longer than 128 bytes")
	case !utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		f.add(policyField, "must be one line of printable text")
	case strings.TrimSpace(p) != p:
		f.add(policyField, "must not start or end with a space")
	}
}

func scripts(f *faults, ss []events.RecipeScript) {
	if len(ss) > MaxScripts {
		f.add("scripts", "%d scripts, more than %d: join some", len(ss), MaxScripts)
	}
	total := 0
	seen := map[string]bool{}
	for i, s := range ss {
		field := fmt.Sprintf("scripts[%d]", i)
		switch {
		case s.Name == "":
			f.add(field+".name", "missing")
		case !scriptNameRE.MatchString(s.Name):
			f.add(field+".name", "must match %s, not %q", scriptNameRE, clip(s.Name))
		case seen[s.Name]:
			f.add(field+".name", "%q names an earlier script too", s.Name)
		}
		seen[s.Name] = true
		total += len(s.Run)
		switch {
		case !strings.HasPrefix(s.Run, "#!"):
			f.add(field+".run", "must start with #! and its interpreter (#!/bin/sh)")
		case !utf8.ValidString(s.Run):
			f.add(field+".run", "not UTF-8 text")
		case strings.ContainsRune(s.Run, '\r'):
			f.add(field+".run", "has a carriage return (Windows line endings?): the guest's shell reads it as part of a word")
		case strings.IndexFunc(s.Run, func(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }) >= 0:
			f.add(field+".run", "has control characters")
		}
	}
	if total > MaxScriptsSize {
		f.add("scripts", "%d bytes of scripts, more than %d", total, MaxScriptsSize)
	}
}

// clip shortens a value quoted in an error: the error says which field, the value is a
// reminder, not a copy.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
