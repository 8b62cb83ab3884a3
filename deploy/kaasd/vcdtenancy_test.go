package kaasd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/kaasproject/kaas/deploy/kaasd/kaasdtest"
	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// The reads of VCD's own endpoints and of kaas's list that the tenancy test compares, in a
// vcdCLI's session (after a command negotiated CSE's API version).

// cliSeen is what one endpoint shows a principal: cluster name → id.
type cliSeen map[string]string

func (s cliSeen) names() []string {
	var out []string
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// vcdList reads every page of a cloudapi entity list, unfiltered: what VCD lets the caller
// see of it.
func (c *vcdCLI) vcdList(path string) (cliSeen, error) {
	seen := cliSeen{}
	for page := 1; ; page++ {
		if page > cliMaxPages {
			return nil, fmt.Errorf("%s: page %d is still not empty", path, page)
		}
		m, err := c.cloud(fmt.Sprintf("%s?page=%d&pageSize=%d", path, page, cliPageSize))
		if err != nil {
			return nil, err
		}
		vals := cliValues(m)
		if len(vals) == 0 {
			return seen, nil
		}
		for _, v := range vals {
			g, err := cliGeneric(v)
			if err != nil {
				return nil, err
			}
			seen[cliStr(g, "name")] = cliStr(g, "id")
		}
	}
}

// vcdEntity is GET /cloudapi/1.0.0/entities/{id}: the entity's name, or ok false when VCD
// says it does not exist for the caller.
func (c *vcdCLI) vcdEntity(id string) (name string, ok bool, err error) {
	code, _, b := c.do(cliCall{method: http.MethodGet, href: c.cloudapi("entities/" + id), accept: cliAccept(cliJSON, c.cseVersion), auth: cliBearer, ctype: cliJSON})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false, fmt.Errorf("GET entities/%s: %d, not JSON: %.200s", id, code, b)
	}
	switch {
	case code == http.StatusOK:
		ent, err := cliDefEntity(m)
		if err != nil {
			return "", false, err
		}
		return cliStr(ent, "name"), true, nil
	case code == http.StatusForbidden || code == http.StatusNotFound:
		return "", false, nil
	}
	return "", false, fmt.Errorf("GET entities/%s: %d %v", id, code, m["message"])
}

// kaasList is kaas's GET /api/cse/3.0/clusters in the caller's session.
func (c *vcdCLI) kaasList() (cliSeen, error) {
	v, err := c.cse(http.MethodGet, c.api("cse/3.0/clusters"), nil)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("GET /api/cse/3.0/clusters: %T, not a list", v)
	}
	seen := cliSeen{}
	for _, e := range list {
		ent, err := cliDefEntity(e)
		if err != nil {
			return nil, err
		}
		seen[cliStr(ent, "name")] = cliStr(ent, "id")
	}
	return seen, nil
}

// kaasGet is kaas's GET /api/cse/3.0/cluster/{id}: ok false when kaas says not found.
func (c *vcdCLI) kaasGet(id string) (bool, error) {
	code, _, b := c.do(cliCall{method: http.MethodGet, href: c.api("cse/3.0/cluster/" + id), accept: cliAccept(cliJSON, c.cseVersion), auth: cliBearer})
	switch code {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("GET /api/cse/3.0/cluster/%s: %d %.200s", id, code, b)
}

// TestTenancyThroughVCD checks, as kaas's authorization matrix does for its own routes,
// that each principal sees through VCD's own defined-entity endpoints exactly the clusters
// kaas shows it through /api/cse/3.0/clusters: the entities of CSE's k8s interface and of
// the nativeCluster 2.1.0 type, read unfiltered page by page, each cluster's entity by id,
// and `vcd cse cluster list` as the genuine client asks it. The principals: the owner, a
// user the cluster is shared with ReadOnly, an org administrator holding Administrator
// View, a same-org user it is not shared with, a user of another org (who has a cluster of
// her own) and the provider. Sharing changed is seen alike.
func TestTenancyThroughVCD(t *testing.T) {
	cfg := kaasdtest.FastSim()
	full := "cse:nativeCluster: Full Access"
	cfg.Orgs[0].Users = []vcdsim.UserConfig{
		{Name: "alice", Password: "p", Rights: []string{full}},
		{Name: "rita", Password: "p", Rights: []string{full}},
		{Name: "olga", Password: "p", Rights: []string{"cse:nativeCluster: Administrator View"}},
		{Name: "bob", Password: "p", Rights: []string{"cse:nativeCluster: View"}},
	}
	cfg.Orgs = append(cfg.Orgs, vcdsim.OrgConfig{Name: "globex",
		VDCs:  []vcdsim.VDCConfig{{Name: "globex-vdc", Networks: []vcdsim.NetworkConfig{{Name: "globex-net", Gateway: "10.2.0.1", Pool: "10.2"}}}},
		Users: []vcdsim.UserConfig{{Name: "eve", Password: "p", Rights: []string{full}}}})
	sys := kaasdtest.Start(t, cfg)
	kaasdtest.EnableVDCs(t, sys.AsProvider(t))

	type viewer struct{ what, org, user, pass string }
	ps := []viewer{
		{"owner", "acme", "alice", "p"},
		{"shared ReadOnly", "acme", "rita", "p"},
		{"org administrator with Administrator View", "acme", "olga", "p"},
		{"same org, not shared", "acme", "bob", "p"},
		{"another org's user", "globex", "eve", "p"},
		{"provider", "System", "administrator", "kaas-admin"},
	}
	cli := map[string]*vcdCLI{}
	for _, p := range ps {
		c := newVCDCLI(t, sys)
		cliMust[string](t, "login "+p.user)(c.Login(p.org, p.user, p.pass, "36.0"))
		cliMust[map[string]any](t, "system info as "+p.user)(c.SystemInfo())
		cli[p.user] = c
	}

	// alice's two clusters and eve's one, made and shared with the genuine client.
	for _, mk := range []struct{ user, name, org string }{{"alice", "shared", "acme"}, {"alice", "private", "acme"}, {"eve", "elsewhere", "globex"}} {
		c := cli[mk.user]
		id := cliMust[string](t, "create "+mk.name)(c.Apply(cliSpec(mk.name, mk.org, sys.URL, good, 0)))
		if task, out, err := c.TaskWait(id); err != nil || task.Status != "success" {
			t.Fatalf("create %s: %v %s", mk.name, err, out)
		}
	}
	cliOK(t, "share with rita", cli["alice"].Share("shared", cliReadOnly, "rita"))

	check := func(step string, want map[string][]string) {
		t.Helper()
		for _, p := range ps {
			c := cli[p.user]
			cliEventually(t, step+": what "+p.what+" ("+p.user+") sees", func() error {
				kaas, err := c.kaasList()
				if err != nil {
					return err
				}
				if !slices.Equal(kaas.names(), want[p.user]) {
					return fmt.Errorf("kaas lists %v, want %v", kaas.names(), want[p.user])
				}
				for _, path := range []string{"entities/interfaces/vmware/k8s/1.0.0", "entities/types/cse/nativeCluster/2.1.0"} {
					vcd, err := c.vcdList(path)
					if err != nil {
						return err
					}
					if fmt.Sprint(vcd) != fmt.Sprint(kaas) {
						return fmt.Errorf("VCD's %s shows %v where kaas shows %v", path, vcd, kaas)
					}
				}
				rows, err := c.ListClusters("")
				if err != nil {
					return err
				}
				var listed []string
				for _, r := range rows {
					listed = append(listed, r.Name)
				}
				slices.Sort(listed)
				if !slices.Equal(listed, want[p.user]) {
					return fmt.Errorf("vcd cse cluster list shows %v, want %v", listed, want[p.user])
				}
				all, err := cli["administrator"].kaasList()
				if err != nil {
					return err
				}
				for name, id := range all {
					seen, err := c.kaasGet(id)
					if err != nil {
						return err
					}
					got, inVCD, err := c.vcdEntity(id)
					if err != nil {
						return err
					}
					_, listed := kaas[name]
					if seen != listed || inVCD != listed || inVCD && got != name {
						return fmt.Errorf("cluster %s (%s): kaas lists it %v, answers GET %v; VCD's entity %v (%q)", name, id, listed, seen, inVCD, got)
					}
				}
				return nil
			})
		}
	}
	all := []string{"elsewhere", "private", "shared"}
	want := map[string][]string{
		"alice": {"private", "shared"}, "rita": {"shared"}, "olga": {"private", "shared"}, "bob": nil,
		"eve": {"elsewhere"}, "administrator": all,
	}
	check("shared with rita", want)

	cliOK(t, "unshare", cli["alice"].Unshare("shared", "rita"))
	want["rita"] = nil
	check("unshared", want)
}
