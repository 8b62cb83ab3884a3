package kaasctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// How each kind of answer reads as a table and as names.

var clusterColumns = []column{{header: "NAME"}, {header: "ORG"}, {header: "VDC"}, {header: "PHASE"}, {header: "K8S"}, {header: "WORKERS"},
	{header: "ID", wide: true}, {header: "OWNER", wide: true}, {header: "TEMPLATE", wide: true}, {header: "CONTROL PLANE IP", wide: true}}

func clusterRow(c *Cluster) []string {
	k8s := ""
	if c.Entity.Status != nil {
		k8s = c.Entity.Status.Kubernetes
	}
	org := c.Entity.Metadata.OrgName
	if org == "" {
		org = c.Org.Name
	}
	owner := c.Owner.Name // as VCD names the user; its URN until kaas has read VCD's users
	if owner == "" {
		owner = c.Owner.ID
	}
	return []string{c.Name, org, c.Entity.Metadata.VirtualDataCenterName, c.phase(), k8s, c.workers(), c.ID, owner, c.template(), c.controlPlaneIP()}
}

func clustersView(r Reply[[]Cluster]) view {
	v := view{raw: r.Raw, columns: clusterColumns}
	for i := range r.Value {
		v.rows = append(v.rows, clusterRow(&r.Value[i]))
		v.names = append(v.names, r.Value[i].Name)
	}
	return v
}

func clusterView(r Reply[Cluster]) view {
	return view{raw: r.Raw, columns: clusterColumns, rows: [][]string{clusterRow(&r.Value)}, names: []string{r.Value.Name}}
}

var operationColumns = []column{{header: "OPERATION"}, {header: "STATUS"}, {header: "PHASE"}, {header: "STEP"}, {header: "PERCENT"},
	{header: "ID", wide: true}, {header: "CLUSTER", wide: true}, {header: "ERROR", wide: true}}

func operationView(r Reply[Operation]) view {
	o := r.Value
	return view{raw: r.Raw, columns: operationColumns, names: []string{o.ID},
		rows: [][]string{{o.Operation, o.Status, o.Phase, o.Step, strconv.Itoa(o.Percent) + "%", o.ID, o.ClusterID, o.Error.String()}}}
}

var templateColumns = []column{{header: "NAME"}, {header: "REVISION"}, {header: "KUBERNETES"}, {header: "OS"}, {header: "CNI"}, {header: "DEPRECATED"},
	{header: "DEFAULT", wide: true}, {header: "CATALOG", wide: true}, {header: "DESCRIPTION", wide: true}}

func templatesView(r Reply[[]Template]) view {
	v := view{raw: r.Raw, columns: templateColumns}
	for _, t := range r.Value {
		cni := strings.TrimSpace(t.CNI + " " + t.CNIVersion)
		v.rows = append(v.rows, []string{t.Name, strconv.Itoa(t.Revision), t.KubernetesVersion, t.OS, cni, yesNo(t.Deprecated),
			yesNo(t.IsDefault), t.Catalog, t.Description})
		v.names = append(v.names, t.Name)
	}
	return v
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

var ovdcColumns = []column{{header: "NAME"}, {header: "ORG"}, {header: "RUNTIMES"}, {header: "ID", wide: true}}

func ovdcRow(d Ovdc) []string {
	rt := strings.Join(d.K8sRuntime, ",")
	if rt == "" {
		rt = "none"
	}
	return []string{d.Name, d.OrgName, rt, d.ID}
}

func ovdcsView(r Reply[[]Ovdc]) view {
	v := view{raw: r.Raw, columns: ovdcColumns}
	for _, d := range r.Value {
		v.rows = append(v.rows, ovdcRow(d))
		v.names = append(v.names, d.Name)
	}
	return v
}

var eventColumns = []column{{header: "SEQ", wide: true}, {header: "TIME"}, {header: "TYPE"}, {header: "ACTOR"}, {header: "OPERATION", wide: true}, {header: "SUMMARY"}}

func eventsView(raw json.RawMessage, evs []Event, wide bool) view {
	v := view{raw: raw, columns: eventColumns}
	for _, e := range evs {
		v.rows = append(v.rows, []string{strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339), e.Type, e.Actor, e.OperationID,
			summarize(e.Data, wide)})
		v.names = append(v.names, e.ID)
	}
	return v
}

// summarize renders an event's data on one line, key=value, nested values as JSON; a table
// cell is cut short unless the table is wide.
func summarize(data json.RawMessage, wide bool) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return string(bytes.TrimSpace(data))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		val := string(m[k])
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			val = s
		}
		parts = append(parts, k+"="+val)
	}
	out := strings.Join(parts, " ")
	if r := []rune(out); !wide && len(r) > 80 {
		out = string(r[:79]) + "…"
	}
	return out
}

var aclColumns = []column{{header: "USER"}, {header: "ACCESS"}, {header: "MEMBER ID", wide: true}}

func aclView(raw json.RawMessage, entries []ACLEntry) view {
	v := view{raw: raw, columns: aclColumns}
	for _, e := range entries {
		user := e.Username
		if user == "" {
			user = e.MemberID
		}
		v.rows = append(v.rows, []string{user, accessName(e.AccessLevelID), e.MemberID})
		v.names = append(v.names, user)
	}
	return v
}

// messageView shows a {"message": "…"} answer as its message.
func messageView(r Reply[Message], name string) view {
	return view{raw: r.Raw, names: []string{name}, text: func(w io.Writer) error {
		msg := r.Value.Message
		if msg == "" && r.Value.TaskHref != "" {
			msg = "accepted: " + r.Value.TaskHref
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	}}
}

// keyValues prints a JSON object as "key: value" lines, in the API's order.
func keyValues(w io.Writer, raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		_, err := fmt.Fprintln(w, string(raw))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case nil:
			s = "-"
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		fmt.Fprintf(tw, "%v:\t%s\n", k, s)
	}
	return tw.Flush()
}

var auditColumns = []column{{header: "SEQ", wide: true}, {header: "TIME"}, {header: "ORG", wide: true}, {header: "CLUSTER"}, {header: "TYPE"},
	{header: "ACTOR"}, {header: "REQUEST", wide: true}, {header: "OPERATION", wide: true}, {header: "SUMMARY"}}

func auditView(raw json.RawMessage, recs []Event) view {
	v := view{raw: raw, columns: auditColumns}
	for _, e := range recs {
		v.rows = append(v.rows, []string{strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.OrgID, e.ClusterID, e.Type,
			e.Actor, e.RequestID, e.OperationID, summarize(e.Data, false)})
		v.names = append(v.names, e.ID)
	}
	return v
}

func verificationView(r Reply[Verification]) view {
	res := r.Value
	v := view{raw: r.Raw, columns: []column{{header: "CLUSTER"}, {header: "SEQ"}, {header: "PROBLEM"}, {header: "DETAIL"}}}
	for _, p := range res.Problems {
		v.rows = append(v.rows, []string{p.ClusterID, strconv.FormatUint(p.Seq, 10), p.Kind, p.Detail})
		v.names = append(v.names, p.ClusterID+"@"+strconv.FormatUint(p.Seq, 10))
	}
	v.text = func(w io.Writer) error {
		if res.OK && len(res.Problems) == 0 {
			_, err := fmt.Fprintf(w, "History verified: %d events of %d clusters, every chain whole and where the views last read it.\n", res.Events, res.Clusters)
			return err
		}
		fmt.Fprintf(w, "History NOT verified: %d events of %d clusters, %d problem(s):\n", res.Events, res.Clusters, len(res.Problems))
		return v.table(w, true)
	}
	return v
}

func replayView(r Reply[ReplayReport]) view {
	rep := r.Value
	v := view{raw: r.Raw, names: rep.Differences}
	v.text = func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "Rebuilt from:\tcommands 1–%d, events 1–%d\n", rep.CommandSeq, rep.EventSeq)
		fmt.Fprintf(tw, "Views:\t%d clusters, %d operations\n", rep.Clusters, rep.Operations)
		fmt.Fprintf(tw, "Took:\t%.2fs\n", rep.Seconds)
		fmt.Fprintf(tw, "Differences:\t%d\n", len(rep.Differences))
		fmt.Fprintf(tw, "Swapped in:\t%s\n", yesNo(rep.Swapped))
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, d := range rep.Differences {
			if _, err := fmt.Fprintln(w, "  "+d); err != nil {
				return err
			}
		}
		return nil
	}
	return v
}

var deadLetterColumns = []column{{header: "SEQ"}, {header: "AT"}, {header: "COMMAND"}, {header: "CLUSTER"}, {header: "ERROR"},
	{header: "ORG", wide: true}, {header: "ACTOR", wide: true}, {header: "REQUEST", wide: true}, {header: "COMMAND ID", wide: true}}

func deadLettersView(raw json.RawMessage, dls []DeadLetter) view {
	v := view{raw: raw, columns: deadLetterColumns}
	for _, d := range dls {
		v.rows = append(v.rows, []string{strconv.FormatUint(d.Seq, 10), d.At.UTC().Format(time.RFC3339), d.Command, d.ClusterID, d.Error,
			d.OrgID, d.Actor, d.RequestID, d.CommandID})
		v.names = append(v.names, strconv.FormatUint(d.Seq, 10))
	}
	return v
}
