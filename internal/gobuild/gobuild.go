// Package gobuild builds binaries of this module's build graph (kaasd, nats-server at the
// version go.mod names) with the go command of the running toolchain, for the tests and the
// bench that run them as processes of their own, to kill them as a crash does.
package gobuild

import (
	"context"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
)

// majorSuffix is a module path's major version element (".../v2"), which the go command
// leaves out of a binary's name.
var majorSuffix = regexp.MustCompile(`^v[0-9]+$`)

// Build builds the main packages pkgs into dir in one go command, and returns their
// binaries' paths in the same order.
func Build(ctx context.Context, dir string, pkgs ...string) ([]string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	if b, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %v\n%s", pkgs, err, b)
	}
	bins := make([]string, len(pkgs))
	for i, p := range pkgs {
		name := path.Base(p)
		if majorSuffix.MatchString(name) {
			name = path.Base(path.Dir(p))
		}
		bins[i] = filepath.Join(dir, name)
	}
	return bins, nil
}
