package kaasctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of -o.
var formats = []string{"table", "wide", "json", "yaml", "name"}

// outputFlag adds -o to a command; the value is checked before the command runs.
func outputFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVarP(format, "output", "o", "table", "output format: "+strings.Join(formats, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if !slices.Contains(formats, *format) {
			return usagef("unknown output format %q: use one of %s", *format, strings.Join(formats, ", "))
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// column is one column of a table; wide columns show only with -o wide.
type column struct {
	header string
	wide   bool
}

// view is one answer as kaasctl shows it: the API's bytes for json and yaml, rows for
// tables, natural keys for name, or free text (describe, system info).
type view struct {
	raw     json.RawMessage
	columns []column
	rows    [][]string // one cell per column
	names   []string
	// text, when set, replaces the table (table and wide).
	text func(w io.Writer) error
}

// print writes v in format to w.
func (v view) print(w io.Writer, format string) error {
	switch format {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(v.raw), "", "  "); err != nil {
			return fmt.Errorf("the API's answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	case "yaml":
		y, err := yaml.JSONToYAML(v.raw)
		if err != nil {
			return fmt.Errorf("the API's answer cannot be shown as YAML: %w", err)
		}
		_, err = w.Write(y)
		return err
	case "name":
		for _, n := range v.names {
			if _, err := fmt.Fprintln(w, n); err != nil {
				return err
			}
		}
		return nil
	}
	if v.text != nil {
		return v.text(w)
	}
	return v.table(w, format == "wide")
}

func (v view) table(w io.Writer, wide bool) error {
	if len(v.rows) == 0 {
		_, err := fmt.Fprintln(w, "No resources found.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var cells []string
	for _, c := range v.columns {
		if wide || !c.wide {
			cells = append(cells, c.header)
		}
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, row := range v.rows {
		cells = cells[:0]
		for i, c := range v.columns {
			if wide || !c.wide {
				cell := ""
				if i < len(row) {
					cell = row[i]
				}
				if cell == "" {
					cell = "-" // a blank cell would shift what follows for the eye and for awk
				}
				cells = append(cells, strings.ReplaceAll(cell, "\t", " "))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// marshalRaw is the bytes of a value kaasctl put together itself (several pages joined,
// the client and server versions), for json and yaml.
func marshalRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// filterList keeps the items of a list answer that keep says, in Value and in Raw alike,
// so that -o json still shows them as the API wrote them.
func filterList[T any](r Reply[[]T], keep func(T) bool) (Reply[[]T], error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(r.Raw, &raws); err != nil || len(raws) != len(r.Value) {
		return r, fmt.Errorf("the API's list cannot be filtered: %v", err)
	}
	out := Reply[[]T]{Value: []T{}, Location: r.Location}
	kept := []json.RawMessage{}
	for i, v := range r.Value {
		if keep(v) {
			out.Value, kept = append(out.Value, v), append(kept, raws[i])
		}
	}
	out.Raw = marshalRaw(kept)
	return out, nil
}
