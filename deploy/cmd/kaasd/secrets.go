package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kaasproject/kaas/deploy/kaasd"
)

// secretVars are the variables that may hold a secret (a password, a token, a URL with a
// password in it). Each may instead be read from the file its <VAR>_FILE names, as systemd's
// LoadCredential= and Kubernetes' and Docker's secrets provide them, so that the secret is
// in no process's environment (/proc/<pid>/environ, `systemctl show`, crash reports).
var secretVars = []string{"KAAS_VCD_PASSWORD", "KAAS_VCD_TOKEN", "KAAS_AMQP_URL", "KAAS_NATS_URL", "KAAS_NATS_PASSWORD"}

// withSecretFiles returns getenv with each secret variable whose <VAR>_FILE is set read from
// that file instead, trailing newlines trimmed (an editor or `echo` adds one). It refuses a
// variable set both ways, since which one wins would be a guess, and a file it cannot read
// or that is empty, naming the file.
func withSecretFiles(getenv func(string) string) (func(string) string, error) {
	files := map[string]string{}
	var errs []error
	for _, name := range secretVars {
		path := getenv(name + "_FILE")
		if path == "" {
			continue
		}
		if getenv(name) != "" {
			errs = append(errs, fmt.Errorf("%s and %s_FILE are both set: set one of them", name, name))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			// The error names the file: "open /etc/kaas/vcd-password: permission denied".
			errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
			continue
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			errs = append(errs, fmt.Errorf("%s_FILE: %s is empty", name, path))
			continue
		}
		files[name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(k string) string {
		if v, ok := files[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}

// redactDefault hides the password in the default a URL flag shows in `kaasd -h`, which
// the flag package also prints after a usage error, into the service's log. The flag's
// value keeps the password.
func redactDefault(fs *flag.FlagSet, name string) {
	f := fs.Lookup(name)
	if f == nil || f.DefValue == "" {
		return
	}
	f.DefValue = kaasd.RedactURLs(f.DefValue) // KAAS_NATS_URL lists a cluster's servers
}
