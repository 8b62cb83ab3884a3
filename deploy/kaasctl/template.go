package kaasctl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/recipe"
)

// The provider's template routes are kaas's own; they answer in kaas's types (events/cse),
// which kaasctl shares.

// ProviderTemplates is kaas's GET cse/3.0/templates (providers): every revision, with its
// build state.
func (c *Client) ProviderTemplates(ctx context.Context) (Reply[[]cse.ProviderTemplate], error) {
	return call[[]cse.ProviderTemplate](ctx, c, http.MethodGet, "cse/3.0/templates", nil, nil)
}

// BuildTemplate is kaas's POST cse/3.0/templates/action/build, the recipe as JSON; 202.
func (c *Client) BuildTemplate(ctx context.Context, r events.Recipe) (Reply[cse.TemplateAccepted], error) {
	return call[cse.TemplateAccepted](ctx, c, http.MethodPost, "cse/3.0/templates/action/build", nil, r)
}

// ImportTemplate is kaas's POST cse/3.0/templates/action/import; 202.
func (c *Client) ImportTemplate(ctx context.Context, in cse.TemplateImport) (Reply[cse.TemplateAccepted], error) {
	return call[cse.TemplateAccepted](ctx, c, http.MethodPost, "cse/3.0/templates/action/import", nil, in)
}

// DeprecateTemplate is kaas's POST cse/3.0/template/{name}/{revision}/action/deprecate; 202.
func (c *Client) DeprecateTemplate(ctx context.Context, ref events.TemplateRef, deprecated bool) (Reply[cse.ProviderTemplate], error) {
	return call[cse.ProviderTemplate](ctx, c, http.MethodPost, templatePath(ref)+"/action/deprecate", nil, cse.TemplateDeprecation{Deprecated: &deprecated})
}

// DeleteTemplate is kaas's DELETE cse/3.0/template/{name}/{revision}; 202.
func (c *Client) DeleteTemplate(ctx context.Context, ref events.TemplateRef) (Reply[cse.ProviderTemplate], error) {
	return call[cse.ProviderTemplate](ctx, c, http.MethodDelete, templatePath(ref), nil, nil)
}

func templatePath(ref events.TemplateRef) string {
	return "cse/3.0/template/" + url.PathEscape(ref.Name) + "/" + strconv.Itoa(ref.Revision)
}

// isProvider reports whether a session is a provider's (VCD's System org).
func (s *session) isProvider() bool { return strings.EqualFold(s.Org, systemOrg) }

var providerTemplateColumns = []column{{header: "NAME"}, {header: "REVISION"}, {header: "KUBERNETES"}, {header: "OS"}, {header: "CNI"},
	{header: "SOURCE"}, {header: "STATUS"}, {header: "DEPRECATED"}, {header: "CONTAINERD", wide: true}, {header: "RULES", wide: true},
	{header: "STEP", wide: true}, {header: "OPERATION", wide: true}, {header: "FAILURE", wide: true}}

// providerTemplatesView is the provider's list; -o name prints "NAME REVISION" per line,
// what template deprecate and delete take.
func providerTemplatesView(r Reply[[]cse.ProviderTemplate]) view {
	v := view{raw: r.Raw, columns: providerTemplateColumns}
	for _, t := range r.Value {
		cni := strings.TrimSpace(t.CNI + " " + t.CNIVersion)
		failure := ""
		if t.Failure != nil {
			failure = t.Failure.Code + ": " + t.Failure.Message
		}
		v.rows = append(v.rows, []string{t.Name, strconv.Itoa(t.Revision), t.KubernetesVersion, t.OS, cni, t.Source, t.Status, yesNo(t.Deprecated),
			t.ContainerdVersion, rulesText(t.Rules), t.Step, t.OperationID, failure})
		v.names = append(v.names, t.Name+" "+strconv.Itoa(t.Revision))
	}
	return v
}

func rulesText(r cse.TemplateRules) string {
	var parts []string
	if r.CPU > 0 {
		parts = append(parts, "cpu="+strconv.Itoa(r.CPU))
	}
	if r.MemoryMB > 0 {
		parts = append(parts, "memory="+strconv.Itoa(r.MemoryMB)+"Mi")
	}
	if r.SizingPolicy != "" {
		parts = append(parts, "sizing="+r.SizingPolicy)
	}
	return strings.Join(parts, ",")
}

// templateListCmd lists the templates: a provider sees every revision with its build state,
// a tenant the catalog as CSE lists it.
func (a *app) templateListCmd() *cobra.Command {
	var output string
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the Kubernetes templates (providers: every revision, with its build state)",
		Long: `List the Kubernetes templates. Tenants see the provider's catalog, as CSE lists it.
Providers see every revision: those in the catalog, those kaas built or imported, and
those being built, that failed or were deleted, with the status, step and failure of
each (-o wide); -o name prints "NAME REVISION" per line.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, s, err := a.client()
			if err != nil {
				return err
			}
			if s.isProvider() {
				r, err := c.ProviderTemplates(cmd.Context())
				if err != nil {
					return err
				}
				return providerTemplatesView(r).print(cmd.OutOrStdout(), output)
			}
			r, err := c.Templates(cmd.Context())
			if err != nil {
				return err
			}
			return templatesView(r).print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(list, &output)
	return list
}

// readRecipe reads and checks a recipe file, so that a mistake is found before anything
// is sent; "-" is stdin. Its faults are the user's to fix: usage errors.
func (a *app) readRecipe(path string) (events.Recipe, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(a.s.In, recipe.MaxSize+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return events.Recipe{}, &usageError{fmt.Errorf("read the recipe: %w", err)}
	}
	r, err := recipe.Parse(b)
	if err == nil {
		err = recipe.Validate(r)
	}
	if err != nil {
		return events.Recipe{}, usagef("%s: %s", path, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return r, nil
}

func (a *app) templateBuildCmd() *cobra.Command {
	var f changeFlags
	cmd := &cobra.Command{
		Use:   "build RECIPE.yaml...",
		Short: "Build the next revision of a template from each recipe (providers)",
		Long: `Build a template from each recipe file (deploy/recipes has examples): kaas makes a VM
from the recipe's base OS image, has its guest install Kubernetes, containerd and the CNI
and run the recipe's scripts, and captures it into the catalog as the template's next
revision. Every file is read and checked before any build is asked for. With --wait, the
builds are followed one after the other, with the step and the guest's step.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("%s takes one or more recipe files", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			recipes := make([]events.Recipe, len(args))
			for i, path := range args {
				r, err := a.readRecipe(path)
				if err != nil {
					return err
				}
				recipes[i] = r
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			var accepted []Reply[cse.TemplateAccepted]
			for _, r := range recipes {
				rep, err := c.BuildTemplate(cmd.Context(), r)
				if err != nil {
					return errors.Join(fmt.Errorf("build %s: %w", r.Name, err), a.followTemplates(cmd, c, &f, accepted, "build"))
				}
				accepted = append(accepted, rep)
			}
			return a.followTemplates(cmd, c, &f, accepted, "build")
		},
	}
	f.add(cmd)
	return cmd
}

func (a *app) templateImportCmd() *cobra.Command {
	var (
		f  changeFlags
		in cse.TemplateImport
	)
	cmd := &cobra.Command{
		Use:   "import --name NAME --ova FILE|URL --kubernetes-version V --os OS --cni NAME --cni-version V",
		Short: "Import a ready-made OVA as a template revision (providers)",
		Long: `Import an OVA (TKGm's, or one built elsewhere) into the catalog as a template revision,
as CSE's template import did. The OVA is a file on kaasd's host (an absolute path) or an
https URL; the flags say what it holds. Without --revision it takes the next one.`,
		Args: exactArgs(0, "none: the OVA and what it holds are flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := events.Template{Name: in.Name, Revision: max(in.Revision, 1), KubernetesVersion: in.KubernetesVersion, OS: in.OS,
				CNI: events.Component{Name: in.CNI, Version: in.CNIVersion}, ContainerdVersion: in.ContainerdVersion, Description: in.Description,
				Rules: events.TemplateRules{CPU: in.CPU, MemoryMB: in.MemoryMB, SizingPolicy: in.SizingPolicy}}
			if flagChanged(cmd.Flags(), "revision") {
				t.Revision = in.Revision
			}
			if err := recipe.ValidateImport(t, in.OVA, in.SHA256); err != nil {
				return usagef("%s", strings.ReplaceAll(flagNames(err.Error()), "\n", "; "))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			rep, err := c.ImportTemplate(cmd.Context(), in)
			if err != nil {
				return err
			}
			return a.followTemplates(cmd, c, &f, []Reply[cse.TemplateAccepted]{rep}, "import")
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Name, "name", "", "the template's name, as tenants pick it")
	fl.IntVar(&in.Revision, "revision", 0, "the revision (default: the next one)")
	fl.StringVar(&in.OVA, "ova", "", "the OVA: an absolute path on kaasd's host, or an https URL")
	fl.StringVar(&in.SHA256, "sha256", "", "the OVA file's SHA-256, checked before it is uploaded")
	fl.StringVar(&in.KubernetesVersion, "kubernetes-version", "", "the Kubernetes it holds (v1.30.4, v1.20.8+vmware.1)")
	fl.StringVar(&in.OS, "os", "", "its OS (ubuntu-22.04, photon-3)")
	fl.StringVar(&in.CNI, "cni", "", "its CNI (antrea)")
	fl.StringVar(&in.CNIVersion, "cni-version", "", "its CNI's version")
	fl.StringVar(&in.ContainerdVersion, "containerd-version", "", "its containerd's version")
	fl.StringVar(&in.Description, "description", "", "what tenants read of it")
	fl.IntVar(&in.CPU, "cpu", 0, "CPUs of clusters' VMs that ask for none")
	fl.IntVar(&in.MemoryMB, "memory-mb", 0, "memory (MB) of clusters' VMs that ask for none")
	fl.StringVar(&in.SizingPolicy, "sizing-policy", "", "VM sizing policy of clusters' VMs that ask for none")
	f.add(cmd)
	return cmd
}

// flagNames names an import's faults by kaasctl's flags (kubernetes_version →
// --kubernetes-version).
func flagNames(s string) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		if field, problem, ok := strings.Cut(l, ": "); ok && !strings.ContainsAny(field, " .[") {
			l = "--" + strings.ReplaceAll(field, "_", "-") + ": " + problem
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// followTemplates ends a build or an import: without --wait it says what was accepted (or
// prints the answers); with --wait it follows each operation in turn, then shows the
// revisions as they ended. An error unless every operation succeeded.
func (a *app) followTemplates(cmd *cobra.Command, c *Client, f *changeFlags, accepted []Reply[cse.TemplateAccepted], what string) error {
	out := cmd.OutOrStdout()
	if !f.wait {
		for _, r := range accepted {
			var err error
			switch f.output {
			case "table", "wide":
				_, err = fmt.Fprintf(out, "Template %s revision %d: %s accepted (operation %s)\n", r.Value.Name, r.Value.Revision, what, r.Value.OperationID)
			default:
				err = view{raw: r.Raw, names: []string{r.Value.Name + " " + strconv.Itoa(r.Value.Revision)}}.print(out, f.output)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	var errs []error
	for _, r := range accepted {
		href := cmp.Or(r.Location, r.Value.OperationID)
		if _, err := a.waitOperation(cmd.Context(), c, href, f); err != nil {
			errs = append(errs, fmt.Errorf("template %s revision %d: %w", r.Value.Name, r.Value.Revision, err))
		}
	}
	if len(accepted) > 0 {
		if err := a.showRevisions(cmd, c, f, accepted); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// showRevisions prints the revisions named, as the provider's list shows them.
func (a *app) showRevisions(cmd *cobra.Command, c *Client, f *changeFlags, named []Reply[cse.TemplateAccepted]) error {
	all, err := c.ProviderTemplates(cmd.Context())
	if err != nil {
		return err
	}
	want := map[events.TemplateRef]bool{}
	for _, r := range named {
		want[events.TemplateRef{Name: r.Value.Name, Revision: r.Value.Revision}] = true
	}
	var keep []cse.ProviderTemplate
	for _, t := range all.Value {
		if want[events.TemplateRef{Name: t.Name, Revision: t.Revision}] {
			keep = append(keep, t)
		}
	}
	return providerTemplatesView(Reply[[]cse.ProviderTemplate]{Value: keep, Raw: marshalRaw(keep)}).print(cmd.OutOrStdout(), f.output)
}

// templateRefArgs reads NAME REVISION.
func templateRefArgs(args []string) (events.TemplateRef, error) {
	rev, err := strconv.Atoi(args[1])
	if err != nil || rev < 1 {
		return events.TemplateRef{}, usagef("revision %q: a number, 1 or more", args[1])
	}
	return events.TemplateRef{Name: args[0], Revision: rev}, nil
}

func (a *app) templateDeprecateCmd() *cobra.Command {
	var (
		f    changeFlags
		undo bool
	)
	cmd := &cobra.Command{
		Use:   "deprecate NAME REVISION",
		Short: "Deprecate a template revision: refused to new clusters, kept for existing ones (providers)",
		Long: `Deprecate a template revision: new clusters and upgrades may no longer use it, and
clusters made from it keep working. --undo offers it again.`,
		Args: exactArgs(2, "NAME REVISION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := templateRefArgs(args)
			if err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.DeprecateTemplate(cmd.Context(), ref, !undo)
			if err != nil {
				return err
			}
			return a.followRevision(cmd, c, &f, r)
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "offer the revision again")
	f.add(cmd)
	return cmd
}

func (a *app) templateDeleteCmd() *cobra.Command {
	var f changeFlags
	cmd := &cobra.Command{
		Use:   "delete NAME REVISION",
		Short: "Delete a template revision from the catalog (providers)",
		Long: `Delete a template revision's catalog item. kaas refuses while clusters use the revision,
and names them: delete or upgrade them first (deprecating the revision meanwhile refuses
it to new clusters).`,
		Args: exactArgs(2, "NAME REVISION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := templateRefArgs(args)
			if err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.DeleteTemplate(cmd.Context(), ref)
			if err != nil {
				return err
			}
			return a.followRevision(cmd, c, &f, r)
		},
	}
	f.add(cmd)
	return cmd
}

// followRevision ends a deprecation or a delete: the revision as the answer shows it, or
// with --wait as it is once the operation ended.
func (a *app) followRevision(cmd *cobra.Command, c *Client, f *changeFlags, r Reply[cse.ProviderTemplate]) error {
	one := func(t cse.ProviderTemplate, raw []byte) view {
		v := providerTemplatesView(Reply[[]cse.ProviderTemplate]{Value: []cse.ProviderTemplate{t}})
		v.raw = raw
		return v
	}
	if !f.wait || r.Location == "" {
		return one(r.Value, r.Raw).print(cmd.OutOrStdout(), f.output)
	}
	_, werr := a.waitOperation(cmd.Context(), c, r.Location, f)
	err := a.showRevisions(cmd, c, f, []Reply[cse.TemplateAccepted]{{Value: cse.TemplateAccepted{Name: r.Value.Name, Revision: r.Value.Revision}}})
	return errors.Join(werr, err)
}
