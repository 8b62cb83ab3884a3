package kaasctl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes, as the shell sees them.
const (
	ExitOK     = 0
	ExitFailed = 1 // the API refused, an operation failed, VCD could not be reached
	ExitUsage  = 2 // a wrong flag or argument, an unreadable spec file
)

// Streams is everything kaasctl takes from its process, so that tests run it in-process.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// ConfigDir holds config.yaml, the session; empty: os.UserConfigDir()/kaasctl.
	ConfigDir string
	// HTTPClient, when set, makes every call (tests, proxies); otherwise each session gets
	// its own, skipping TLS verification if it was logged in with --insecure.
	HTTPClient *http.Client
	// Getenv reads the environment (KAAS_CONFIG); nil reads none.
	Getenv func(string) string
	// Version is kaasctl's own version.
	Version string
}

// app is one run of kaasctl: its streams and the flags every command shares.
type app struct {
	s          Streams
	configFlag string
}

func (a *app) getenv(k string) string {
	if a.s.Getenv == nil {
		return ""
	}
	return a.s.Getenv(k)
}

// httpClient is the client for a session.
func (a *app) httpClient(insecure bool) *http.Client {
	if a.s.HTTPClient != nil {
		return a.s.HTTPClient
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it at login
	}
	// VCD gives an API extension 10 s by default; a minute covers slow VCDs and logins.
	return &http.Client{Transport: t, Timeout: time.Minute}
}

// client returns the API client of the stored session.
func (a *app) client() (*Client, *session, error) {
	s, err := a.loadSession()
	if err != nil {
		return nil, nil, err
	}
	return NewClient(s.URL, s.Token, a.httpClient(s.Insecure)), s, nil
}

// usageError is a mistake in how kaasctl was called: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// failure is an error a command's run returned: exit code 1.
type failure struct{ err error }

func (e *failure) Error() string { return e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

// exitCode is the code an error exits with. Errors that never reached a command's run
// (cobra's own: unknown command or flag, wrong number of arguments) are usage errors.
func exitCode(err error) int {
	var u *usageError
	var f *failure
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		return ExitUsage
	case errors.As(err, &f):
		return ExitFailed
	}
	return ExitUsage
}

// Execute runs kaasctl with args (without the program name) and returns the exit code.
func Execute(ctx context.Context, args []string, s Streams) int {
	root := NewRoot(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	msg := err.Error()
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		msg = apiErr.Error() // the server's words; kaasctl's context adds nothing a user needs
	}
	fmt.Fprintln(root.ErrOrStderr(), "Error: "+msg)
	if code == ExitUsage && cmd != nil {
		fmt.Fprintf(root.ErrOrStderr(), "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// NewRoot returns the kaasctl command tree.
func NewRoot(s Streams) *cobra.Command {
	if s.In == nil {
		s.In = os.Stdin
	}
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	if s.Version == "" {
		s.Version = "dev"
	}
	a := &app{s: s}
	root := &cobra.Command{
		Use:   "kaasctl",
		Short: "Manage Kubernetes clusters on VMware Cloud Director through kaas (CSE's API)",
		Long: `kaasctl manages Kubernetes clusters through VMware Cloud Director's /api/cse routes,
served by kaas (or CSE). Log in once with "kaasctl login", then use the commands below.

Output: -o table (default), wide, json (the API's answer), yaml, or name.
Exit codes: 0 success, 1 refused or failed, 2 usage error.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.PersistentFlags().StringVar(&a.configFlag, "config", "", "session file (default $KAAS_CONFIG, else <user config dir>/kaasctl/config.yaml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddGroup(&cobra.Group{ID: "session", Title: "Session:"}, &cobra.Group{ID: "resources", Title: "Resources:"})

	root.AddCommand(
		a.loginCmd(), a.logoutCmd(),
		a.clusterCmd(), a.templateCmd(), a.ovdcCmd(), a.systemCmd(), a.adminCmd(),
		a.versionCmd(),
	)
	markFailures(root)
	return root
}

// markFailures makes every error a command's run returns an exit-1 failure, unless the
// command said it was a usage error; what is left for exit code 2 is cobra's own.
func markFailures(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var u *usageError
			if err == nil || errors.As(err, &u) {
				return err
			}
			return &failure{err}
		}
	}
	for _, sub := range c.Commands() {
		markFailures(sub)
	}
}

// group returns a command that only holds subcommands: an unknown subcommand is a usage
// error (cobra would print help and succeed).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:     use,
		Short:   short,
		GroupID: "resources",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	g.AddCommand(subs...)
	return g
}

// exactArgs is cobra.ExactArgs with kaasctl's words for the argument's name.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s) (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// flagChanged reports whether the user set a flag (as opposed to its default).
func flagChanged(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}
