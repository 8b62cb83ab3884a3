package kaasctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) templateCmd() *cobra.Command {
	var rf changeFlags
	reload := &cobra.Command{
		Use:   "reload",
		Short: "Read the catalog's templates and the org VDCs from VCD again (providers)",
		Long: `Have kaas read the provider catalog's templates and every org VDC from VCD now, rather
than at its next sync (KAAS_CLOUD_SYNC_INTERVAL). With --wait, show the templates after.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.ReloadTemplates(ctx)
			if err != nil {
				return err
			}
			return a.followTask(cmd, c, &rf, r, "reload", "Template reload accepted: %s", func(werr error) error {
				if werr != nil {
					return werr
				}
				t, err := c.Templates(ctx)
				if err != nil {
					return err
				}
				return templatesView(t).print(cmd.OutOrStdout(), rf.output)
			})
		},
	}
	rf.add(reload)
	return group("template", "List Kubernetes templates; build, import, deprecate, delete and reload them (providers)", a.templateListCmd(), reload,
		a.templateBuildCmd(), a.templateImportCmd(), a.templateDeprecateCmd(), a.templateDeleteCmd())
}

// completeTemplates completes a template name from the provider's templates.
func (a *app) completeTemplates(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	c, _, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	r, err := c.Templates(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, t := range r.Value {
		if strings.HasPrefix(t.Name, toComplete) && !t.Deprecated {
			names = append(names, t.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) ovdcCmd() *cobra.Command {
	var output string
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List org VDCs and the Kubernetes runtimes each is enabled for",
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Ovdcs(cmd.Context())
			if err != nil {
				return err
			}
			return ovdcsView(r).print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(list, &output)
	return group("ovdc", "Enable org VDCs for Kubernetes (providers)", list,
		a.ovdcSetCmd("enable", "Enable an org VDC for native Kubernetes clusters", []string{"native"}),
		a.ovdcSetCmd("disable", "Disable an org VDC for Kubernetes clusters (those in it stay)", []string{}))
}

func (a *app) ovdcSetCmd(verb, short string, runtimes []string) *cobra.Command {
	var (
		f   changeFlags
		org string
	)
	cmd := &cobra.Command{
		Use:   verb + " NAME|ID [--org ORG]",
		Short: short,
		Args:  exactArgs(1, "an org VDC's name or id"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return a.completeOvdcs(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, _, err := a.client()
			if err != nil {
				return err
			}
			all, err := c.Ovdcs(ctx)
			if err != nil {
				return err
			}
			d, err := findOvdc(all.Value, args[0], org)
			if err != nil {
				return err
			}
			r, err := c.SetOvdc(ctx, d.ID, OvdcUpdate{K8sRuntime: runtimes, OrgName: d.OrgName, OvdcName: d.Name})
			if err != nil {
				return err
			}
			accepted := fmt.Sprintf("Org VDC %s of org %s: %s accepted (%%s).", d.Name, d.OrgName, verb)
			return a.followTask(cmd, c, &f, r, d.Name, accepted, func(werr error) error {
				// Show the VDC as it is now.
				now, err := c.Ovdcs(ctx)
				if err == nil {
					now, err = filterList(now, func(x Ovdc) bool { return x.ID == d.ID })
				}
				if err != nil {
					return errors.Join(werr, err)
				}
				if err := ovdcsView(now).print(cmd.OutOrStdout(), f.output); err != nil {
					return err
				}
				return werr
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&org, "org", "", "the org VDC's organization, when several orgs have one of that name")
	return cmd
}

// vdcURNPrefix starts an org VDC's URN; CSE's answers give the bare UUID after it.
const vdcURNPrefix = "urn:vcloud:vdc:"

// findOvdc finds an org VDC by id (its UUID, as CSE shows it, or its URN), or by name (in
// an org when given).
func findOvdc(all []Ovdc, nameOrID, org string) (Ovdc, error) {
	var found []Ovdc
	for _, d := range all {
		if strings.EqualFold(d.ID, strings.TrimPrefix(nameOrID, vdcURNPrefix)) || (d.Name == nameOrID && (org == "" || strings.EqualFold(d.OrgName, org))) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		where := ""
		if org != "" {
			where = " in org " + org
		}
		return Ovdc{}, fmt.Errorf("org VDC %s not found%s (kaasctl ovdc list)", nameOrID, where)
	case 1:
		return found[0], nil
	}
	orgs := make([]string, 0, len(found))
	for _, d := range found {
		orgs = append(orgs, d.OrgName)
	}
	return Ovdc{}, fmt.Errorf("orgs %s each have an org VDC %s: say which with --org", strings.Join(orgs, ", "), nameOrID)
}

func (a *app) completeOvdcs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, _, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	r, err := c.Ovdcs(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, d := range r.Value {
		if strings.HasPrefix(d.Name, toComplete) {
			names = append(names, d.Name+"\torg "+d.OrgName)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) systemCmd() *cobra.Command {
	var output string
	info := &cobra.Command{
		Use:   "info",
		Short: "Show the service's version and state",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.System(cmd.Context())
			if err != nil {
				return err
			}
			v := view{raw: r.Raw, names: []string{"kaas"}, text: func(w io.Writer) error { return keyValues(w, r.Raw) }}
			return v.print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(info, &output)
	cmds := []*cobra.Command{info}
	for _, x := range []struct{ verb, short string }{
		{"enable", "Let tenants use the service again (providers)"},
		{"disable", "Refuse every request but system ones until enabled again (providers)"},
		{"stop", "Stop the service gracefully: requests in flight are answered (providers)"},
	} {
		var output string
		cmd := &cobra.Command{
			Use:   x.verb,
			Short: x.short,
			Args:  exactArgs(0, "none"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, _, err := a.client()
				if err != nil {
					return err
				}
				r, err := c.SetSystem(cmd.Context(), x.verb)
				if err != nil {
					return err
				}
				return messageView(r, "kaas").print(cmd.OutOrStdout(), output)
			},
		}
		outputFlag(cmd, &output)
		cmds = append(cmds, cmd)
	}
	return group("system", "Show and change the service's state", cmds...)
}

func (a *app) versionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show kaasctl's version, and the server's when logged in",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := struct {
				Client struct {
					Version string `json:"version"`
				} `json:"client"`
				Server json.RawMessage `json:"server,omitempty"`
			}{}
			out.Client.Version = a.s.Version
			var server *SystemInfo
			var serverErr error
			if c, _, err := a.client(); err == nil {
				ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
				r, err := c.System(ctx)
				cancel()
				if err == nil {
					out.Server, server = r.Raw, &r.Value
				} else {
					serverErr = err
				}
			}
			v := view{raw: marshalRaw(out), names: []string{a.s.Version}, text: func(w io.Writer) error {
				fmt.Fprintf(w, "kaasctl: %s\n", a.s.Version)
				switch {
				case server != nil:
					fmt.Fprintf(w, "server:  %s (API %s, %s)\n", dash(server.Version), dash(server.APIVersion), dash(server.Status))
				case serverErr != nil:
					fmt.Fprintf(w, "server:  unknown (%v)\n", serverErr)
				}
				return nil
			}}
			return v.print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(cmd, &output)
	return cmd
}
