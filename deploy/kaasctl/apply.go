package kaasctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"text/template"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Defaults of the sample spec: they work on the simulator's default cloud (make run).
const (
	sampleName     = "my-cluster"
	sampleVDC      = "acme-vdc"
	sampleNetwork  = "acme-net"
	sampleTemplate = "ubuntu-22.04_k8s-1.29_antrea-1.14"
)

type sampleValues struct {
	Name, Org, VDC, Site, Network, Template string
	Revision, Workers                       int
}

// sampleSpec is CSE's v2.1 native cluster entity, commented for people.
var sampleSpec = template.Must(template.New("spec").Funcs(template.FuncMap{"q": yamlString}).Parse(
	`# A native Kubernetes cluster (CSE's v2.1 entity). Create it, or change it later, with:
#   kaasctl cluster apply -f FILE [--wait]
# After creation only topology.workers.count, topology.nfs.count (up) and the distribution
# (an upgrade; see kaasctl cluster upgrade-plan) can change.
apiVersion: cse.vmware.com/v2.1
kind: native
metadata:
  name: {{q .Name}}   # a letter, then letters, digits and '-'
  orgName: {{q .Org}}
  virtualDataCenterName: {{q .VDC}}   # kaasctl ovdc list: one enabled for native
  site: {{q .Site}}
spec:
  distribution:   # kaasctl template list
    templateName: {{q .Template}}
    templateRevision: {{.Revision}}
  topology:
    controlPlane:
      count: 1
    workers:
      count: {{.Workers}}
    nfs:
      count: 0
  settings:
    ovdcNetwork: {{q .Network}}
    # sshKey: ssh-ed25519 AAAA... you@example.com
    rollbackOnFailure: true   # a failed create leaves nothing behind
`))

// plainYAML is a string YAML reads as that same string without quotes.
var plainYAML = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9._/:@-]*$`)

// yamlString writes s as a YAML scalar, quoted (as JSON, which YAML reads) unless plain
// is safe.
func yamlString(s string) string {
	switch s {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "True", "False", "Yes", "No", "Null", "NULL", "~":
		return strconv.Quote(s)
	}
	if plainYAML.MatchString(s) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func (a *app) clusterApplyCmd() *cobra.Command {
	var (
		f      changeFlags
		file   string
		sample bool
		sv     = sampleValues{Name: sampleName, VDC: sampleVDC, Network: sampleNetwork, Template: sampleTemplate, Revision: 1, Workers: 2}
	)
	cmd := &cobra.Command{
		Use:   "apply (-f FILE | --sample)",
		Short: "Create a cluster from a spec file, or change it to match the file",
		Long: `Create a cluster from a spec file (YAML or JSON, CSE's v2.1 entity; -f - reads standard
input), or, when a cluster of that name already exists, change it to match the file's
spec: the whole entity is PUT back with the file's spec, as CSE's "vcd cse cluster apply"
does. A file whose every field already matches the cluster changes nothing.

--sample prints a spec to start from, filled from your session and the flags.`,
		Example: `  kaasctl cluster apply --sample --name web --workers 3 > web.yaml
  kaasctl cluster apply -f web.yaml --wait`,
		Args: exactArgs(0, "none; the spec comes from -f"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sample {
				if s, err := a.loadSession(); err == nil {
					if sv.Org == "" {
						sv.Org = s.Org
					}
					sv.Site = s.URL
				}
				if sv.Org == "" {
					sv.Org = "my-org"
				}
				if sv.Site == "" {
					sv.Site = "https://vcd.example.com"
				}
				return sampleSpec.Execute(cmd.OutOrStdout(), sv)
			}
			entity, err := a.readSpec(file)
			if err != nil {
				return err
			}
			return a.apply(cmd, &f, entity)
		},
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case sample && file != "":
			return usagef("give -f FILE or --sample, not both")
		case !sample && file == "":
			return usagef("give -f FILE (or --sample for a spec to start from)")
		case !sample:
			for _, n := range []string{"name", "org", "vdc", "network", "template", "revision", "workers"} {
				if flagChanged(cmd.Flags(), n) {
					return usagef("--%s only fills in --sample; edit the file instead", n)
				}
			}
		}
		return nil
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "spec file, YAML or JSON (- for standard input)")
	fl.BoolVar(&sample, "sample", false, "print a sample spec")
	fl.StringVar(&sv.Name, "name", sv.Name, "--sample: cluster name")
	fl.StringVar(&sv.Org, "org", "", "--sample: organization (default: the session's)")
	fl.StringVar(&sv.VDC, "vdc", sv.VDC, "--sample: org VDC")
	fl.StringVar(&sv.Network, "network", sv.Network, "--sample: org VDC network")
	fl.StringVar(&sv.Template, "template", sv.Template, "--sample: template name")
	fl.IntVar(&sv.Revision, "revision", sv.Revision, "--sample: template revision")
	fl.IntVar(&sv.Workers, "workers", sv.Workers, "--sample: worker nodes")
	_ = cmd.RegisterFlagCompletionFunc("template", a.completeTemplates)
	return cmd
}

// readSpec reads a spec file (YAML or JSON) as a JSON object. Any problem is a usage
// error: the file is the user's to fix, the API was not asked.
func (a *app) readSpec(path string) (map[string]any, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(a.s.In)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, &usageError{fmt.Errorf("read the spec: %w", err)}
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, usagef("spec %s is neither YAML nor JSON: %v", path, err)
	}
	var entity map[string]any
	if err := json.Unmarshal(j, &entity); err != nil || entity == nil {
		return nil, usagef("spec %s must be a cluster entity (apiVersion, kind, metadata, spec), not %s", path, bytes.TrimSpace(j))
	}
	return entity, nil
}

// apply creates the cluster the entity names, or changes it to the entity's spec.
func (a *app) apply(cmd *cobra.Command, f *changeFlags, entity map[string]any) error {
	ctx := cmd.Context()
	c, _, err := a.client()
	if err != nil {
		return err
	}
	meta, _ := entity["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	org, _ := meta["orgName"].(string)
	vdc, _ := meta["virtualDataCenterName"].(string)
	var existing []Cluster
	if name != "" { // else the server says what is missing
		all, err := c.Clusters(ctx)
		if err != nil {
			return err
		}
		existing = findClusters(all.Value, name, org, vdc)
	}
	switch len(existing) {
	case 0:
		r, err := c.CreateCluster(ctx, marshalRaw(entity))
		if err != nil {
			return err
		}
		return a.finish(cmd, c, f, r, false)
	case 1:
	default:
		return ambiguous(name, existing)
	}

	id := existing[0].ID
	cur, err := c.Cluster(ctx, id)
	if err != nil {
		return err
	}
	var whole map[string]any
	if err := json.Unmarshal(cur.Raw, &whole); err != nil {
		return fmt.Errorf("read cluster %s: %w", id, err)
	}
	curEntity, _ := whole["entity"].(map[string]any)
	if curEntity == nil {
		return fmt.Errorf("cluster %s has no entity in the API's answer", id)
	}
	if subset(entity["spec"], curEntity["spec"]) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Cluster %s is unchanged: it already matches the spec.\n", cur.Value.Name)
		return clusterView(cur).print(cmd.OutOrStdout(), f.output)
	}
	curEntity["spec"] = entity["spec"]
	r, err := c.UpdateCluster(ctx, id, marshalRaw(curEntity))
	if err != nil {
		return err
	}
	return a.finish(cmd, c, f, r, false)
}

// subset reports whether every value want sets is what have holds; what want leaves out
// (or null) is the server's to default.
func subset(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return true
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !subset(v, h[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, have)
}
