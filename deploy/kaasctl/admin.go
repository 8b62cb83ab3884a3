package kaasctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// The provider's commands: audit, history verification, replay and dead letters. They
// call kaas's own provider routes (cse/3.0/audit, cse/3.0/admin/...), which VCD relays
// like CSE's and kaas refuses to tenants.

func (a *app) adminCmd() *cobra.Command {
	return group("admin", "Audit, verify and replay history; act on dead letters (providers)",
		a.auditCmd(), a.replayCmd(), a.dlqCmd())
}

// auditFilters are the flags that select audit records.
type auditFilters struct {
	org, cluster, actor string
	types               []string
	since, until        string
	commands            bool
}

func (f *auditFilters) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.org, "org", "", "only this org's records (name or URN)")
	fs.StringVar(&f.cluster, "cluster", "", "only this cluster's records (name or id; the id of a deleted one)")
	fs.StringVar(&f.actor, "actor", "", "only what this user did (name or URN)")
	fs.StringSliceVar(&f.types, "type", nil, "only records of these types (repeatable or comma separated), e.g. ClusterCreated")
	fs.StringVar(&f.since, "since", "", "records from this moment: an RFC 3339 time or a time ago (90m, 12h, 7d)")
	fs.StringVar(&f.until, "until", "", "records up to this moment: an RFC 3339 time or a time ago")
	fs.BoolVar(&f.commands, "commands", false, "the commands (what was asked) instead of the events (what happened)")
}

// query turns the filters into the route's query, resolving names to ids.
func (f *auditFilters) query(ctx context.Context, c *Client, now time.Time) (url.Values, error) {
	q := url.Values{}
	if f.org != "" {
		q.Set("org", f.org) // kaas resolves an org's name itself
	}
	if f.cluster != "" {
		id, err := resolveCluster(ctx, c, f.cluster)
		if err != nil {
			return nil, err
		}
		q.Set("cluster", id)
	}
	if f.actor != "" {
		id := f.actor
		if !strings.HasPrefix(id, "urn:vcloud:user:") {
			var err error
			if id, err = c.UserID(ctx, f.actor); err != nil {
				return nil, err
			}
			if id == "" {
				return nil, fmt.Errorf("VCD knows no user %s: give the user's URN", f.actor)
			}
		}
		q.Set("actor", id)
	}
	if len(f.types) > 0 {
		q.Set("type", strings.Join(f.types, ","))
	}
	for name, v := range map[string]string{"since": f.since, "until": f.until} {
		if v == "" {
			continue
		}
		t, err := parseMoment(v, now)
		if err != nil {
			return nil, usagef("--%s: %v", name, err)
		}
		q.Set(name, t.Format(time.RFC3339Nano))
	}
	if f.commands {
		q.Set("kind", "commands")
	}
	return q, nil
}

// parseMoment reads an RFC 3339 time, or a time ago as a Go duration or whole days (7d).
func parseMoment(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time such as 2026-11-24T10:00:00Z nor a time ago such as 90m, 12h or 7d", s)
}

func (a *app) auditCmd() *cobra.Command {
	var (
		f           auditFilters
		output      string
		page, size  int
		all, newest bool
		export      string
	)
	cmd := &cobra.Command{
		Use:   "audit [filters] [--export FILE|-]",
		Short: "Who did what to which cluster, and when, across orgs",
		Long: `Show the recorded events (or, with --commands, the commands) of every cluster of every
org, filtered, oldest first (--newest-first to turn it round), a page at a time or whole
(--all). Every record names its actor, the request that caused it and its hash chain.

--export writes every matching record, oldest first, as JSON Lines (one record per line,
as the API wrote it) to FILE, or to stdout with -: it reads the history a window at a time,
however long it is, and FILE appears only once it is whole.`,
		Example: `  kaasctl admin audit --org acme --since 24h
  kaasctl admin audit --cluster web --type ClusterCreated,ClusterDeleted -o wide
  kaasctl admin audit --actor alice --commands --all -o json
  kaasctl admin audit --since 2026-11-01T00:00:00Z --export november.jsonl`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if export != "" && (newest || flagChanged(cmd.Flags(), "page") || flagChanged(cmd.Flags(), "page-size") || all) {
				return usagef("--export writes every record oldest first: it takes no --newest-first, --page, --page-size or --all")
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			q, err := f.query(ctx, c, time.Now())
			if err != nil {
				return err
			}
			if export != "" {
				return a.exportAudit(ctx, c, q, export)
			}
			if newest {
				q.Set("order", "newest")
			}
			get := func(ctx context.Context, p, size int) (Reply[Page[Event]], error) {
				pq := pageQuery(p, size)
				for k, v := range q {
					pq[k] = v
				}
				return c.Audit(ctx, pq)
			}
			var r Reply[Page[Event]]
			if all {
				r, err = allPages(ctx, func(ctx context.Context, p int) (Reply[Page[Event]], error) { return get(ctx, p, 128) })
			} else {
				r, err = get(ctx, page, size)
			}
			if err != nil {
				return err
			}
			if err := auditView(r.Raw, r.Value.Values).print(cmd.OutOrStdout(), output); err != nil {
				return err
			}
			if !all && output != "json" && output != "yaml" && r.Value.PageCount > 1 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Page %d of %d (%d records): --page N for another, --all for every one.\n",
					r.Value.Page, r.Value.PageCount, r.Value.ResultTotal)
			}
			return nil
		},
	}
	f.add(cmd)
	outputFlag(cmd, &output)
	cmd.Flags().IntVar(&page, "page", 1, "page to show")
	cmd.Flags().IntVar(&size, "page-size", 25, "records per page (at most 128)")
	cmd.Flags().BoolVar(&all, "all", false, "every page")
	cmd.Flags().BoolVar(&newest, "newest-first", false, "newest records first")
	cmd.Flags().StringVar(&export, "export", "", "write every matching record as JSON Lines to this file (- for stdout)")
	cmd.MarkFlagsMutuallyExclusive("all", "page")
	cmd.AddCommand(a.verifyCmd())
	return cmd
}

// exportAudit writes every record the query matches as JSON Lines, walking the history
// with the route's cursor (after=<seq>) so that each call reads one window.
func (a *app) exportAudit(ctx context.Context, c *Client, q url.Values, dest string) (err error) {
	var w io.Writer = a.s.Out
	if dest != "-" {
		// Write beside the destination and rename at the end: a file that is there is whole.
		tmp, cerr := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
		if cerr != nil {
			return fmt.Errorf("export: %w", cerr)
		}
		w = tmp
		defer func() { // err is the named result: what the export ended with
			if err == nil {
				if err = tmp.Close(); err == nil {
					err = os.Rename(tmp.Name(), dest)
				}
				if err != nil {
					err = fmt.Errorf("export: %w", err)
				}
			} else {
				tmp.Close()
			}
			if err != nil {
				os.Remove(tmp.Name())
			}
		}()
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	q.Set("pageSize", "128")
	for after := uint64(0); ; {
		q.Set("after", strconv.FormatUint(after, 10))
		r, err := c.Audit(ctx, q)
		if err != nil {
			return err
		}
		var page Page[json.RawMessage]
		if err := json.Unmarshal(r.Raw, &page); err != nil || len(page.Values) != len(r.Value.Values) {
			return fmt.Errorf("export: the API's answer is not what kaasctl expects: %v", err)
		}
		if r.Value.ResultTotal != -1 {
			return errors.New("export: this server does not read the audit by cursor (after=): upgrade kaas, or page with --all -o json")
		}
		for _, raw := range page.Values {
			if err := compactLine(bw, raw); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		n += len(page.Values)
		if r.Value.NextPageURI == "" || len(r.Value.Values) == 0 {
			break
		}
		after = r.Value.Values[len(r.Value.Values)-1].Seq
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if dest != "-" {
		fmt.Fprintf(a.s.Err, "Exported %d records to %s.\n", n, dest)
	}
	return nil
}

// compactLine writes one JSON value on one line.
func compactLine(w *bufio.Writer, raw json.RawMessage) error {
	b, err := json.Marshal(raw) // compacts; RawMessage is already valid JSON
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.WriteByte('\n')
}

func (a *app) verifyCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the stored history is the one kaas wrote",
		Long: `Walk every cluster's hash chain in the event stream: each event names the hash of its
cluster's previous event, and each chain must end where the live views last read it. A
removed, changed or reordered event is reported with its cluster and sequence, and kaasctl
exits 1; clean history exits 0.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.VerifyHistory(cmd.Context())
			if err != nil {
				return err
			}
			if err := verificationView(r).print(cmd.OutOrStdout(), output); err != nil {
				return err
			}
			if !r.Value.OK || len(r.Value.Problems) > 0 {
				return fmt.Errorf("the history is not what kaas wrote: %d problem(s)", len(r.Value.Problems))
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) replayCmd() *cobra.Command {
	var (
		output string
		swap   bool
	)
	cmd := &cobra.Command{
		Use:   "replay [--swap]",
		Short: "Rebuild every view from the whole history and compare it with the live one",
		Long: `Rebuild every view (clusters, operations, org VDCs) from sequence 1 of the command and
event streams beside the live ones, which keep serving, and compare them at the same
sequences. Differences are listed and kaasctl exits 1. With --swap the rebuilt views then
replace the live ones (what to do after a fix to how events fold), and kaasctl exits 0.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Replay(cmd.Context(), swap)
			if err != nil {
				return err
			}
			if err := replayView(r).print(cmd.OutOrStdout(), output); err != nil {
				return err
			}
			if n := len(r.Value.Differences); n > 0 && !r.Value.Swapped {
				return fmt.Errorf("the rebuilt views differ from the live ones in %d place(s)", n)
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().BoolVar(&swap, "swap", false, "then serve the rebuilt views instead of the live ones")
	return cmd
}

func (a *app) dlqCmd() *cobra.Command {
	var (
		output     string
		page, size int
		all        bool
	)
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the commands that exhausted their retries, with their errors",
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, _, err := a.client()
			if err != nil {
				return err
			}
			var r Reply[Page[DeadLetter]]
			if all {
				r, err = allPages(ctx, func(ctx context.Context, p int) (Reply[Page[DeadLetter]], error) { return c.DeadLetters(ctx, p, 128) })
			} else {
				r, err = c.DeadLetters(ctx, page, size)
			}
			if err != nil {
				return err
			}
			return deadLettersView(r.Raw, r.Value.Values).print(cmd.OutOrStdout(), output)
		},
	}
	outputFlag(list, &output)
	list.Flags().IntVar(&page, "page", 1, "page to show")
	list.Flags().IntVar(&size, "page-size", 25, "dead letters per page (at most 128)")
	list.Flags().BoolVar(&all, "all", false, "every page")
	list.MarkFlagsMutuallyExclusive("all", "page")

	var rf changeFlags
	retry := &cobra.Command{
		Use:   "retry SEQ",
		Short: "Accept a dead letter's command again, on your behalf",
		Long: `Accept the dead letter's command again as a new command (its actor is you, its cause the
dead letter) and remove it from the queue. With --wait, follow the new operation.`,
		Args: exactArgs(1, "a dead letter's SEQ, from kaasctl admin dlq list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.RetryDeadLetter(cmd.Context(), seq)
			if err != nil {
				return err
			}
			return a.followTask(cmd, c, &rf, r, strconv.FormatUint(seq, 10), "Dead letter "+strconv.FormatUint(seq, 10)+" accepted again: %s", nil)
		},
	}
	rf.add(retry)

	discard := &cobra.Command{
		Use:   "discard SEQ",
		Short: "Drop a dead letter's command for good",
		Args:  exactArgs(1, "a dead letter's SEQ, from kaasctl admin dlq list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DiscardDeadLetter(cmd.Context(), seq); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Dead letter %d discarded.\n", seq)
			return nil
		},
	}
	dlq := group("dlq", "Commands that could not be carried out: list, retry, discard", list, retry, discard)
	dlq.GroupID = "" // a subcommand of admin, outside the root's groups
	dlq.Long = `A command that exhausts its retries (VCD kept failing in a way kaas could not classify,
or kaasd could not read it) lands in the dead-letter queue with its error, and its cluster
shows a failed phase with the reason. List them, accept one again once the cause is fixed,
or discard it.`
	return dlq
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, usagef("%q is not a dead letter's SEQ (a whole number, from kaasctl admin dlq list)", s)
	}
	return seq, nil
}
