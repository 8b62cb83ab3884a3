package kaasctl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// entityIDPrefix starts every native cluster's id; an argument that starts with it is an
// id, anything else a name.
const entityIDPrefix = "urn:vcloud:entity:"

func (a *app) clusterCmd() *cobra.Command {
	return group("cluster", "Create, change, inspect and delete clusters",
		a.clusterListCmd(), a.clusterGetCmd(), a.clusterDescribeCmd(), a.clusterApplyCmd(),
		a.clusterDeleteCmd(), a.clusterScaleCmd(), a.clusterUpgradeCmd(), a.clusterUpgradePlanCmd(),
		a.clusterKubeconfigCmd(), a.clusterEventsCmd(), a.clusterACLCmd(), a.clusterShareCmd(), a.clusterUnshareCmd(),
	)
}

// resolveCluster turns a name or an id into the cluster's id. A name must name exactly one
// cluster the caller can see.
func resolveCluster(ctx context.Context, c *Client, nameOrID string) (string, error) {
	if strings.HasPrefix(nameOrID, entityIDPrefix) {
		return nameOrID, nil
	}
	r, err := c.Clusters(ctx)
	if err != nil {
		return "", fmt.Errorf("find cluster %s: %w", nameOrID, err)
	}
	matches := findClusters(r.Value, nameOrID, "", "")
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("cluster %s not found", nameOrID)
	case 1:
		return matches[0].ID, nil
	}
	return "", ambiguous(nameOrID, matches)
}

// findClusters are the clusters of a name (VCD compares names without case), in an org and
// VDC when given.
func findClusters(all []Cluster, name, org, vdc string) []Cluster {
	var out []Cluster
	for _, c := range all {
		m := c.Entity.Metadata
		if strings.EqualFold(c.Name, name) && (org == "" || strings.EqualFold(m.OrgName, org)) &&
			(vdc == "" || m.VirtualDataCenterName == vdc) {
			out = append(out, c)
		}
	}
	return out
}

func ambiguous(name string, matches []Cluster) error {
	ids := make([]string, 0, len(matches))
	for _, m := range matches {
		ids = append(ids, fmt.Sprintf("%s (org %s, VDC %s)", m.ID, m.Entity.Metadata.OrgName, m.Entity.Metadata.VirtualDataCenterName))
	}
	return fmt.Errorf("%d clusters are named %s: give the id of one of %s", len(matches), name, strings.Join(ids, ", "))
}

// completeClusters completes a cluster name argument from the clusters the session sees.
func (a *app) completeClusters(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, _, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	r, err := c.Clusters(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, cl := range r.Value {
		if strings.HasPrefix(cl.Name, toComplete) {
			names = append(names, cl.Name+"\t"+cl.Entity.Metadata.OrgName+"/"+cl.Entity.Metadata.VirtualDataCenterName)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// clusterArgCmd is a command on one cluster, named or by id: it resolves the cluster and
// hands run the client and the id.
func (a *app) clusterArgCmd(use, short string, run func(cmd *cobra.Command, c *Client, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              exactArgs(1, "a cluster's name or id"),
		ValidArgsFunction: a.completeClusters,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			id, err := resolveCluster(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return run(cmd, c, id)
		},
	}
}

func (a *app) clusterListCmd() *cobra.Command {
	var output, org, vdc string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the clusters you can see",
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Clusters(cmd.Context())
			if err != nil {
				return err
			}
			if org != "" || vdc != "" {
				if r, err = filterList(r, func(cl Cluster) bool {
					return (org == "" || strings.EqualFold(cl.Entity.Metadata.OrgName, org)) && (vdc == "" || cl.Entity.Metadata.VirtualDataCenterName == vdc)
				}); err != nil {
					return err
				}
			}
			return clustersView(r).print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&org, "org", "", "only the clusters of this org")
	cmd.Flags().StringVar(&vdc, "vdc", "", "only the clusters of this org VDC")
	return cmd
}

func (a *app) clusterGetCmd() *cobra.Command {
	var output, asOf string
	cmd := a.clusterArgCmd("get NAME|ID [--as-of TIME]", "Show a cluster, as it is or as it was", func(cmd *cobra.Command, c *Client, id string) error {
		var (
			r   Reply[Cluster]
			err error
		)
		if asOf != "" {
			at, perr := parseMoment(asOf, time.Now())
			if perr != nil {
				return usagef("--as-of: %v", perr)
			}
			r, err = c.ClusterAsOf(cmd.Context(), id, at)
		} else {
			r, err = c.Cluster(cmd.Context(), id)
		}
		if err != nil {
			return err
		}
		return clusterView(r).print(cmd.OutOrStdout(), output)
	})
	cmd.Long = `Show a cluster. With --as-of, show it as it was at that moment (an RFC 3339 time, or a
time ago such as 90m, 12h or 7d), folded from its recorded history; a deleted cluster's past
can be read by its id.`
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&asOf, "as-of", "", "show the cluster as it was at this moment")
	return cmd
}

func (a *app) clusterDeleteCmd() *cobra.Command {
	var (
		f     changeFlags
		force bool
	)
	cmd := a.clusterArgCmd("delete NAME|ID", "Delete a cluster and its VMs", func(cmd *cobra.Command, c *Client, id string) error {
		del := c.DeleteCluster
		if force {
			del = c.ForceDeleteCluster
		}
		r, err := del(cmd.Context(), id)
		if err != nil {
			return err
		}
		return a.finish(cmd, c, &f, r, true)
	})
	cmd.Long = `Delete a cluster: its vApp and VMs in VCD, then the cluster itself. --force deletes it
even when it is busy or broken, cancelling whatever operation is in progress.`
	f.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "delete even a busy or broken cluster (CSE's force-delete)")
	return cmd
}

func (a *app) clusterScaleCmd() *cobra.Command {
	var (
		f            changeFlags
		workers, nfs int
	)
	cmd := a.clusterArgCmd("scale NAME|ID --workers N", "Change the number of worker (or NFS) nodes", func(cmd *cobra.Command, c *Client, id string) error {
		set := map[string]int{}
		if flagChanged(cmd.Flags(), "workers") {
			set["workers"] = workers
		}
		if flagChanged(cmd.Flags(), "nfs") {
			set["nfs"] = nfs
		}
		return a.changeEntity(cmd, c, id, &f, func(spec map[string]any) {
			for pool, n := range set {
				setPath(spec, []string{"topology", pool, "count"}, n)
			}
		})
	})
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if !flagChanged(cmd.Flags(), "workers") && !flagChanged(cmd.Flags(), "nfs") {
			return usagef("give --workers N (or --nfs N)")
		}
		if workers < 0 || nfs < 0 {
			return usagef("a node count cannot be negative")
		}
		return nil
	}
	f.add(cmd)
	cmd.Flags().IntVar(&workers, "workers", 0, "worker nodes wanted")
	cmd.Flags().IntVar(&nfs, "nfs", 0, "NFS nodes wanted (up only)")
	return cmd
}

func (a *app) clusterUpgradeCmd() *cobra.Command {
	var (
		f        changeFlags
		template string
		revision int
	)
	cmd := a.clusterArgCmd("upgrade NAME|ID --template T [--revision R]", "Upgrade a cluster to another template, in place",
		func(cmd *cobra.Command, c *Client, id string) error {
			rev := revision
			if !flagChanged(cmd.Flags(), "revision") {
				rev = newestRevision(cmd.Context(), c, id, template)
			}
			return a.changeEntity(cmd, c, id, &f, func(spec map[string]any) {
				spec["distribution"] = map[string]any{"templateName": template, "templateRevision": rev}
			})
		})
	cmd.Long = `Upgrade a cluster in place, node by node, to another template ("kaasctl cluster
upgrade-plan" lists those it may move to). Without --revision, the newest revision the
plan offers is used (1 if the plan does not list the template).`
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if template == "" {
			return usagef("give --template T")
		}
		if flagChanged(cmd.Flags(), "revision") && revision < 1 {
			return usagef("--revision starts at 1")
		}
		return nil
	}
	f.add(cmd)
	cmd.Flags().StringVar(&template, "template", "", "template to move to")
	cmd.Flags().IntVar(&revision, "revision", 0, "template revision (default: the newest in the upgrade plan)")
	_ = cmd.RegisterFlagCompletionFunc("template", a.completeTemplates)
	return cmd
}

// newestRevision is the highest revision of a template in a cluster's upgrade plan, 1 if
// it is not there (the server then says why).
func newestRevision(ctx context.Context, c *Client, id, template string) int {
	rev := 1
	if r, err := c.UpgradePlan(ctx, id); err == nil {
		for _, t := range r.Value {
			if t.Name == template && t.Revision > rev {
				rev = t.Revision
			}
		}
	}
	return rev
}

func (a *app) clusterUpgradePlanCmd() *cobra.Command {
	var output string
	cmd := a.clusterArgCmd("upgrade-plan NAME|ID", "List the templates a cluster may be upgraded to", func(cmd *cobra.Command, c *Client, id string) error {
		r, err := c.UpgradePlan(cmd.Context(), id)
		if err != nil {
			return err
		}
		return templatesView(r).print(cmd.OutOrStdout(), output)
	})
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) clusterKubeconfigCmd() *cobra.Command {
	var file string
	cmd := a.clusterArgCmd("kubeconfig NAME|ID [-f FILE]", "Get a cluster's kubeconfig", func(cmd *cobra.Command, c *Client, id string) error {
		r, err := c.Kubeconfig(cmd.Context(), id)
		if err != nil {
			return err
		}
		if file == "" || file == "-" {
			_, err := fmt.Fprint(cmd.OutOrStdout(), r.Value.Message)
			return err
		}
		if err := writePrivate(file, []byte(r.Value.Message)); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Wrote the kubeconfig to %s.\n", file)
		return nil
	})
	cmd.Flags().StringVarP(&file, "file", "f", "", "write it to FILE, readable by you only (default: standard output)")
	return cmd
}

// writePrivate writes a secret file readable by its owner only, also when it was there
// before with a wider mode.
func writePrivate(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (a *app) clusterEventsCmd() *cobra.Command {
	var (
		output     string
		page, size int
		all        bool
	)
	cmd := a.clusterArgCmd("events NAME|ID [--page N --page-size N | --all]", "Show a cluster's recorded history", func(cmd *cobra.Command, c *Client, id string) error {
		ctx := cmd.Context()
		if !all {
			r, err := c.ClusterEvents(ctx, id, page, size)
			if err != nil {
				return err
			}
			return eventsView(r.Raw, r.Value.Values, output == "wide").print(cmd.OutOrStdout(), output)
		}
		evs, err := allPages(ctx, func(ctx context.Context, p int) (Reply[Page[Event]], error) {
			return c.ClusterEvents(ctx, id, p, 128)
		})
		if err != nil {
			return err
		}
		return eventsView(evs.Raw, evs.Value.Values, output == "wide").print(cmd.OutOrStdout(), output)
	})
	cmd.Long = `Show a cluster's recorded history, oldest first, a page at a time (--page, --page-size)
or whole (--all). With --all, -o json gives one page holding every event.`
	outputFlag(cmd, &output)
	cmd.Flags().IntVar(&page, "page", 1, "page to show")
	cmd.Flags().IntVar(&size, "page-size", 25, "events per page (at most 128)")
	cmd.Flags().BoolVar(&all, "all", false, "every page")
	cmd.MarkFlagsMutuallyExclusive("all", "page")
	cmd.MarkFlagsMutuallyExclusive("all", "page-size")
	return cmd
}

// allPages fetches every page of a paged route and joins them into one page. Its Raw is
// the API's own body when there is one page, else one page holding every item as the API
// wrote it.
func allPages[T any](ctx context.Context, get func(ctx context.Context, page int) (Reply[Page[T]], error)) (Reply[Page[T]], error) {
	var (
		vals []T
		raws []json.RawMessage
	)
	for p := 1; ; p++ {
		r, err := get(ctx, p)
		if err != nil {
			return r, err
		}
		last := p >= r.Value.PageCount || len(r.Value.Values) == 0 || p >= 10000
		if p == 1 && last {
			return r, nil
		}
		var rp Page[json.RawMessage]
		if err := json.Unmarshal(r.Raw, &rp); err != nil {
			return r, fmt.Errorf("read page %d: %w", p, err)
		}
		vals, raws = append(vals, r.Value.Values...), append(raws, rp.Values...)
		if last {
			break
		}
	}
	n := len(vals)
	return Reply[Page[T]]{
		Value: Page[T]{ResultTotal: n, PageCount: 1, Page: 1, PageSize: n, Values: vals},
		Raw:   marshalRaw(Page[json.RawMessage]{ResultTotal: n, PageCount: 1, Page: 1, PageSize: n, Values: raws}),
	}, nil
}

// changeEntity is CSE's full-entity apply: GET the cluster, change its spec, PUT the
// whole entity back.
func (a *app) changeEntity(cmd *cobra.Command, c *Client, id string, f *changeFlags, change func(spec map[string]any)) error {
	ctx := cmd.Context()
	cur, err := c.Cluster(ctx, id)
	if err != nil {
		return err
	}
	var whole map[string]any
	if err := json.Unmarshal(cur.Raw, &whole); err != nil {
		return fmt.Errorf("read cluster %s: %w", id, err)
	}
	entity, _ := whole["entity"].(map[string]any)
	if entity == nil {
		return fmt.Errorf("cluster %s has no entity in the API's answer", id)
	}
	spec, _ := entity["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		entity["spec"] = spec
	}
	change(spec)
	r, err := c.UpdateCluster(ctx, id, marshalRaw(entity))
	if err != nil {
		return err
	}
	return a.finish(cmd, c, f, r, false)
}

// setPath sets m[k1][k2]…= v, making the maps on the way (a null pool included).
func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// finish ends a change that the API accepted: it prints the answer, or with --wait follows
// the operation and prints how things ended: the cluster, or the operation once the
// cluster is gone.
func (a *app) finish(cmd *cobra.Command, c *Client, f *changeFlags, r Reply[Cluster], deleting bool) error {
	out := cmd.OutOrStdout()
	if !f.wait {
		return clusterView(r).print(out, f.output)
	}
	href := r.Location
	if href == "" && r.Value.Entity.Status != nil && r.Value.Entity.Status.Kaas != nil {
		href = r.Value.Entity.Status.Kaas.OperationHref
	}
	if href == "" {
		return fmt.Errorf("the API named no operation to follow (is it kaas?): the change was accepted, see kaasctl cluster get %s", r.Value.Name)
	}
	op, werr := a.waitOperation(cmd.Context(), c, href, f)
	if !deleting {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
		defer cancel()
		if cur, err := c.Cluster(ctx, r.Value.ID); err == nil {
			if err := clusterView(cur).print(out, f.output); err != nil {
				return err
			}
			return werr
		}
	}
	if op.Raw != nil {
		v := operationView(op)
		v.names = []string{r.Value.Name}
		if err := v.print(out, f.output); err != nil {
			return err
		}
	}
	return werr
}
