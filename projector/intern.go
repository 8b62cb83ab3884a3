package projector

import "github.com/kaasproject/kaas/events"

// Every decoded record brings its own copy of each string it carries, and the views keep
// many of them: a fleet of 100,000 clusters held about a kilobyte of strings per cluster,
// mostly copies of the same few (orgs, users, the template, the spec's org VDC and network,
// node roles) and, within a cluster, of its own and its commands' ids. The folds hand the
// state and the operations one copy of each instead: the shared ones from a table of the
// views (strs), a cluster's and a command's ids from where the views already keep them.

// strs is the table of shared strings, written under the views' lock by the folds only.
type strs map[string]string

// of returns the table's copy of s, adding s when new.
func (t strs) of(s string) string {
	if s == "" {
		return s
	}
	if c, ok := t[s]; ok {
		return c
	}
	t[s] = s
	return s
}

func (t strs) spec(s events.ClusterSpec) events.ClusterSpec {
	s.OrgName, s.VDC, s.Site, s.Network = t.of(s.OrgName), t.of(s.VDC), t.of(s.Site), t.of(s.Network)
	s.Template.Name, s.CNI = t.of(s.Template.Name), t.component(s.CNI)
	for _, p := range []*events.NodePool{&s.ControlPlane, &s.Workers, &s.NFS} {
		p.SizingClass, p.StorageProfile = t.of(p.SizingClass), t.of(p.StorageProfile)
	}
	return s
}

func (t strs) component(c events.Component) events.Component {
	return events.Component{Name: t.of(c.Name), Version: t.of(c.Version)}
}

func (t strs) template(x events.Template) events.Template {
	x.Name, x.Catalog, x.CatalogItemID, x.KubernetesVersion = t.of(x.Name), t.of(x.Catalog), t.of(x.CatalogItemID), t.of(x.KubernetesVersion)
	x.OS, x.CNI, x.DockerVersion, x.Description = t.of(x.OS), t.component(x.CNI), t.of(x.DockerVersion), t.of(x.Description)
	x.ContainerdVersion, x.Source = t.of(x.ContainerdVersion), t.of(x.Source)
	return x
}

// interned returns a cluster record's envelope with the strings the views keep replaced by
// the copies they already hold.
func (v *Views) interned(env events.Envelope) events.Envelope {
	t := v.strs
	env.OrgID, env.Actor = t.of(env.OrgID), t.of(env.Actor)
	if st := v.clusters[env.ClusterID]; st != nil && st.ID == env.ClusterID {
		env.ClusterID = st.ID
	} else if r := v.ops[env.ID]; r != nil && r.clusterID == env.ClusterID {
		env.ClusterID = r.clusterID // a command folded again
	} else if r := v.ops[env.CausationID]; r != nil && r.clusterID == env.ClusterID {
		env.ClusterID = r.clusterID // the first event of a cluster its command named
	}
	if r := v.ops[env.CausationID]; r != nil {
		env.CausationID = r.id
	}
	switch p := env.Payload.(type) {
	case events.CreateCluster:
		p.Spec = t.spec(p.Spec)
		env.Payload = p
	case events.ClusterCreationStarted:
		p.Spec = t.spec(p.Spec)
		env.Payload = p
	case events.TemplateResolved:
		p.Template = t.template(p.Template)
		env.Payload = p
	case events.NodeCreated:
		p.Role = t.of(p.Role)
		env.Payload = p
	}
	return env
}
