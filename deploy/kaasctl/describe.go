package kaasctl

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// recentEvents is how many of its last events describe shows.
const recentEvents = 8

func (a *app) clusterDescribeCmd() *cobra.Command {
	var output string
	cmd := a.clusterArgCmd("describe NAME|ID", "Describe a cluster: spec, status, nodes, last operation, recent events",
		func(cmd *cobra.Command, c *Client, id string) error {
			ctx := cmd.Context()
			r, err := c.Cluster(ctx, id)
			if err != nil {
				return err
			}
			v := clusterView(r)
			v.text = func(w io.Writer) error {
				return describe(w, &r.Value, lastEvents(ctx, c, id))
			}
			return v.print(cmd.OutOrStdout(), output)
		})
	outputFlag(cmd, &output)
	return cmd
}

// lastEvents is the tail of a cluster's history; none when the server keeps none (CSE).
func lastEvents(ctx context.Context, c *Client, id string) []Event {
	first, err := c.ClusterEvents(ctx, id, 1, recentEvents)
	if err != nil {
		return nil
	}
	evs := first.Value.Values
	if n := first.Value.PageCount; n > 1 {
		last, err := c.ClusterEvents(ctx, id, n, recentEvents)
		if err != nil {
			return evs
		}
		evs = last.Value.Values
		if len(evs) < recentEvents { // the last page is short: the one before completes it
			if prev, err := c.ClusterEvents(ctx, id, n-1, recentEvents); err == nil {
				evs = append(prev.Value.Values, evs...)
			}
		}
	}
	if len(evs) > recentEvents {
		evs = evs[len(evs)-recentEvents:]
	}
	return evs
}

// describe writes a cluster for people, in sections.
func describe(w io.Writer, cl *Cluster, events []Event) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	line := func(indent int, key, val string) {
		if val == "" {
			val = "-"
		}
		fmt.Fprintf(tw, "%s%s:\t%s\n", strings.Repeat("  ", indent), key, val)
	}
	e := cl.Entity
	line(0, "Name", cl.Name)
	line(0, "ID", cl.ID)
	line(0, "Org", e.Metadata.OrgName)
	line(0, "VDC", e.Metadata.VirtualDataCenterName)
	line(0, "Owner", cl.Owner.Name)
	line(0, "State", cl.State)
	fmt.Fprintln(tw, "Spec:")
	line(1, "Template", cl.template())
	if t := e.Spec.Topology; t != nil {
		line(1, "Control plane", pool(t.ControlPlane))
		line(1, "Workers", pool(t.Workers))
		line(1, "NFS", pool(t.NFS))
	}
	if s := e.Spec.Settings; s != nil {
		line(1, "Network", s.OvdcNetwork)
		if s.RollbackOnFailure != nil {
			line(1, "Rollback on failure", strconv.FormatBool(*s.RollbackOnFailure))
		}
	}
	st := e.Status
	if st == nil {
		fmt.Fprintln(tw, "Status:\t-")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "Status:")
	line(1, "Phase", st.Phase)
	line(1, "Kubernetes", st.Kubernetes)
	line(1, "OS", st.OS)
	line(1, "CNI", st.CNI)
	if err := tw.Flush(); err != nil {
		return err
	}

	if n := st.Nodes; n != nil && (n.ControlPlane != nil || len(n.Workers)+len(n.NFS) > 0) {
		fmt.Fprintln(w, "Nodes:")
		nt := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(nt, "  ROLE\tNAME\tIP")
		if n.ControlPlane != nil {
			fmt.Fprintf(nt, "  control-plane\t%s\t%s\n", n.ControlPlane.Name, dash(n.ControlPlane.IP))
		}
		for _, x := range n.Workers {
			fmt.Fprintf(nt, "  worker\t%s\t%s\n", x.Name, dash(x.IP))
		}
		for _, x := range n.NFS {
			fmt.Fprintf(nt, "  nfs\t%s\t%s\n", x.Name, dash(x.IP))
		}
		if err := nt.Flush(); err != nil {
			return err
		}
	}

	if k := st.Kaas; k != nil && k.OperationID != "" {
		tw = tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
		fmt.Fprintln(tw, "Last operation:")
		line(1, "ID", k.OperationID)
		line(1, "Href", k.OperationHref)
		line(1, "Step", k.Step)
		line(1, "Percent", strconv.Itoa(k.Percent)+"%")
		if k.Retrying != nil {
			line(1, "Retrying", k.Retrying.String())
		}
		if k.Error != nil {
			line(1, "Error", k.Error.String())
		}
		if k.RolledBack {
			line(1, "Rolled back", "yes")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(events) > 0 {
		fmt.Fprintln(w, "Recent events:")
		et := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(et, "  TIME\tTYPE\tACTOR\tSUMMARY")
		for _, ev := range events {
			fmt.Fprintf(et, "  %s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.Type, dash(ev.Actor), dash(summarize(ev.Data, false)))
		}
		return et.Flush()
	}
	return nil
}

func pool(p *Pool) string {
	s := count(p)
	if s != "" && p.SizingClass != "" {
		s += " (" + p.SizingClass + ")"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
