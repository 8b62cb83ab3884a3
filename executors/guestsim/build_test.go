package guestsim

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/recipe"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

func buildRecipe() events.Recipe {
	return events.Recipe{Name: "ubuntu-22.04_k8s-1.30_antrea-1.15", OS: "ubuntu-22.04",
		Base:              events.BaseImage{Name: "ubuntu-22.04-server-cloudimg-amd64", OVA: "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.ova"},
		KubernetesVersion: "v1.30.4", ContainerdVersion: "1.7.20",
		CNI:     events.RecipeCNI{Name: "antrea", Version: "1.15.1", Manifest: "https://github.com/antrea-io/antrea/releases/download/v1.15.1/antrea.yml"},
		Scripts: []events.RecipeScript{{Name: "motd", Run: "#!/bin/sh\necho 'Built by kaas' > /etc/motd\n"}}}
}

// playBuild powers a build guest on with the recipe's user data and plays it to its end,
// returning the statuses it reported in order.
func playBuild(t *testing.T, r events.Recipe) ([]string, *BuildGuest) {
	t.Helper()
	ud, err := bootstrap.RenderBuild(r)
	if err != nil {
		t.Fatal(err)
	}
	on := time.Now()
	g := &BuildGuest{OnAt: on, GuestInfo: map[string]string{
		executors.GuestUserData: base64.StdEncoding.EncodeToString([]byte(ud)), executors.GuestUserDataEncoding: "base64"}}
	if PlayBuild(&BuildGuest{GuestInfo: map[string]string{}}, DefaultRepository(), time.Minute, on) {
		t.Fatal("a guest that is off played")
	}
	var seen []string
	for i := 0; i <= 120; i++ {
		if PlayBuild(g, DefaultRepository(), time.Minute, on.Add(time.Duration(i)*time.Second)) {
			seen = append(seen, g.GuestInfo[executors.GuestStatus])
		}
	}
	return seen, g
}

func TestBuildGuestCustomizes(t *testing.T) {
	seen, g := playBuild(t, buildRecipe())
	want := []string{"running:prepare", "running:containerd", "running:kubernetes", "running:images", "running:cni",
		"running:script:motd", "running:cleanup", "done"}
	if !slices.Equal(seen, want) {
		t.Fatalf("reported %v\nwant     %v", seen, want)
	}
	if !g.Run.Done || g.Run.Kubernetes != "v1.30.4" || g.GuestInfo[executors.GuestError] != "" {
		t.Fatalf("run %+v, error %q", g.Run, g.GuestInfo[executors.GuestError])
	}
}

// A recipe asking for what the repository does not hold fails at its step with what a real
// Ubuntu says; the steps before it are reported first.
func TestBuildGuestFailsAsUbuntuWould(t *testing.T) {
	tests := []struct {
		name   string
		change func(*events.Recipe)
		step   string
		reason string
	}{
		{"unknown Kubernetes patch", func(r *events.Recipe) { r.KubernetesVersion = "v1.30.99" },
			"kubernetes", "E: Version '1.30.99-1.1' for 'kubeadm' was not found"},
		{"unknown containerd", func(r *events.Recipe) { r.ContainerdVersion = "9.9.9" },
			"containerd", "E: Version '9.9.9-1' for 'containerd.io' was not found"},
		{"unknown manifest", func(r *events.Recipe) { r.CNI.Manifest = "https://example.com/antrea.yml" },
			"cni", "curl: (22) The requested URL returned error: 404"},
		{"a script sh rejects", func(r *events.Recipe) {
			r.Scripts = append(r.Scripts, events.RecipeScript{Name: "broken", Run: "#!/bin/sh\nif true; then\n  echo no fi\n"})
		}, "script:broken", "/etc/kaas/build.d/20-broken.sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := buildRecipe()
			tt.change(&r)
			seen, g := playBuild(t, r)
			last := seen[len(seen)-1]
			if last != "failed:"+tt.step || slices.Contains(seen, "done") {
				t.Fatalf("reported %v, want it to end failed:%s", seen, tt.step)
			}
			if seen[0] != "running:prepare" || len(seen) < 2 || seen[len(seen)-2] != "running:"+tt.step {
				t.Fatalf("reported %v: the steps before the failing one first", seen)
			}
			reason, err := base64.StdEncoding.DecodeString(g.GuestInfo[executors.GuestError])
			if err != nil || !strings.Contains(string(reason), tt.reason) {
				t.Fatalf("reason %q (%v), want it to hold %q", reason, err, tt.reason)
			}
		})
	}
}

// User data that is not a build's is refused at once: a real guest would never report,
// and the build would time out.
func TestBuildGuestNeedsABuild(t *testing.T) {
	for name, ud := range map[string]string{
		"not base64":          "%%%",
		"no cloud-config":     base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n")),
		"runs something else": base64.StdEncoding.EncodeToString([]byte("#cloud-config\nruncmd:\n- [/bin/true]\n")),
	} {
		g := &BuildGuest{OnAt: time.Now(), GuestInfo: map[string]string{executors.GuestUserData: ud}}
		PlayBuild(g, DefaultRepository(), 0, time.Now())
		if g.GuestInfo[executors.GuestStatus] != "failed:cloud-init" {
			t.Errorf("%s: %q", name, g.GuestInfo[executors.GuestStatus])
		}
	}
}

func TestParseEnv(t *testing.T) {
	env, err := parseEnv("KAAS_OS='ubuntu'\nKAAS_KUBERNETES_VERSION='v1'\nKAAS_CONTAINERD_VERSION='1'\nKAAS_CNI_NAME='it'\\''s'\n" +
		"KAAS_CNI_VERSION='1'\nKAAS_CNI_MANIFEST='https://x'\nKAAS_SCRIPTS=''\n")
	if err != nil || env["KAAS_CNI_NAME"] != "it's" || env["KAAS_SCRIPTS"] != "" {
		t.Fatalf("%v %v", env, err)
	}
	for _, bad := range []string{"KAAS_OS=ubuntu\n", "KAAS_OS='a'b'\n", "KAAS_OS='ubuntu'\n"} {
		if _, err := parseEnv(bad); err == nil {
			t.Errorf("%q read", bad)
		}
	}
}

// The default repository holds what the repository's recipes install: each builds.
func TestRepositoryRecipesBuild(t *testing.T) {
	files, err := filepath.Glob("../../deploy/recipes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := recipe.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			seen, g := playBuild(t, r)
			if seen[len(seen)-1] != "done" || g.Run.Kubernetes != r.KubernetesVersion {
				t.Fatalf("reported %v, error %q", seen, g.Run.Error)
			}
		})
	}
}
