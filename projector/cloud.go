package projector

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
)

// CloudView is what kaas offers Kubernetes on: the provider's templates, the org VDCs and
// the runtimes each is enabled for, and whether the service takes requests.
type CloudView struct {
	Templates []events.Template
	// VDCs are VCD's org VDCs, as last synced, plus any enabled since that the sync did not
	// list, sorted by org then name.
	VDCs []VDCView
	// Synced is when VCD was last read; zero before the first sync.
	Synced time.Time
	// ServiceEnabled is false once a provider disabled the service.
	ServiceEnabled bool
}

// VDCView is an org VDC, the runtimes it is enabled for and, once a sync read them, its
// networks. (Both network fields are left out of JSON when empty, so that views recorded
// before kaas read networks render as they did.)
type VDCView struct {
	events.VDC
	Runtimes []string
	// Networks are the VDC's networks as last synced, when NetworksKnown: a history from
	// before kaas read networks, or a sync that could not read the VDC, leaves them unknown.
	Networks      []events.Network `json:",omitempty"`
	NetworksKnown bool             `json:",omitempty"`
}

// Enabled reports whether the VDC is enabled for the native runtime.
func (d VDCView) Enabled() bool { return slices.Contains(d.Runtimes, events.RuntimeNative) }

// cloud is the cloud aggregate's fold. A change takes effect when its command is accepted
// (read your writes: these need no VCD work, so an executor only confirms them) and the
// newest command wins whatever order commands and events are folded in.
type cloud struct {
	templates []events.Template
	vdcs      []events.VDC
	networks  map[string][]events.Network // by VDC id, as last synced
	synced    time.Time
	syncSeq   uint64
	runtimes  map[string]runtimes // by VDC id
	service   bool
	svcSeq    uint64 // command sequence of the service state in force
}

type runtimes struct {
	vdc    events.VDC
	names  []string
	cmdSeq uint64
}

func newCloud() *cloud { return &cloud{runtimes: map[string]runtimes{}, service: true} }

// command folds a cloud command accepted at stream sequence seq.
func (c *cloud) command(seq uint64, p events.Payload) {
	switch p := p.(type) {
	case events.SetVDCRuntimes:
		c.setRuntimes(seq, p.VDC, p.Runtimes)
	case events.SetServiceState:
		c.setService(seq, p.Enabled)
	}
}

// event folds a cloud event; cmdSeq is the sequence of the command that caused it, 0 when
// that command has not been folded yet.
func (c *cloud) event(seq, cmdSeq uint64, t time.Time, p events.Payload) {
	switch p := p.(type) {
	case events.CloudSynced:
		if seq > c.syncSeq {
			c.templates, c.vdcs, c.synced, c.syncSeq = slices.Clone(p.Templates), slices.Clone(p.VDCs), t, seq
			c.networks = make(map[string][]events.Network, len(p.Networks))
			for _, n := range p.Networks {
				c.networks[n.VDC] = cloneNetworks(n.Networks)
			}
		}
	case events.VDCRuntimesChanged:
		c.setRuntimes(cmdSeq, p.VDC, p.Runtimes)
	case events.ServiceStateChanged:
		c.setService(cmdSeq, p.Enabled)
	}
}

func (c *cloud) setRuntimes(seq uint64, vdc events.VDC, names []string) {
	if cur, ok := c.runtimes[vdc.ID]; ok && cur.cmdSeq > seq {
		return
	}
	c.runtimes[vdc.ID] = runtimes{vdc: vdc, names: slices.Clone(names), cmdSeq: seq}
}

func (c *cloud) setService(seq uint64, enabled bool) {
	if seq >= c.svcSeq {
		c.service, c.svcSeq = enabled, seq
	}
}

func (c *cloud) view() CloudView {
	out := CloudView{Templates: slices.Clone(c.templates), Synced: c.synced, ServiceEnabled: c.service}
	seen := map[string]bool{}
	for _, d := range c.vdcs {
		seen[d.ID] = true
		nets, known := c.networks[d.ID]
		out.VDCs = append(out.VDCs, VDCView{VDC: d, Runtimes: slices.Clone(c.runtimes[d.ID].names), Networks: cloneNetworks(nets), NetworksKnown: known})
	}
	for id, r := range c.runtimes {
		if !seen[id] {
			out.VDCs = append(out.VDCs, VDCView{VDC: r.vdc, Runtimes: slices.Clone(r.names)})
		}
	}
	slices.SortFunc(out.VDCs, func(a, b VDCView) int {
		if c := strings.Compare(strings.ToLower(a.OrgName), strings.ToLower(b.OrgName)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Cloud returns the cloud's view.
func (v *Views) Cloud() CloudView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cloud.view()
}

// applyCloudEvent folds an event of the cloud aggregate, with mu held.
func (v *Views) applyCloudEvent(seq uint64, env events.Envelope) {
	var cmdSeq uint64
	if env.CausationID != "" {
		o := v.op(env.CausationID, env.ClusterID)
		cmdSeq = o.CommandSeq
		if o.EventSeq == 0 {
			o.EventSeq = seq
		}
		if o.OrgID == "" {
			o.OrgID, o.Actor, o.RequestID = env.OrgID, env.Actor, env.CorrelationID
		}
		o.Started, o.Ended, o.Step = env.Time, env.Time, env.Type
		if p, rejected := env.Payload.(events.CommandRejected); rejected {
			f := p.Failure
			o.Status, o.Failure = OpRejected, &f
		} else {
			o.Status, o.Percent = OpSucceeded, 100
		}
	}
	v.cloud.event(seq, cmdSeq, env.Time, env.Payload)
	v.evtTime = env.Time
	v.advance(&v.evtSeq, seq)
}

func (c *cloud) clone() *cloud {
	cp := *c
	cp.templates, cp.vdcs = slices.Clone(c.templates), slices.Clone(c.vdcs)
	cp.runtimes = maps.Clone(c.runtimes)
	cp.networks = maps.Clone(c.networks) // the lists themselves are replaced, never changed
	return &cp
}

// cloneNetworks copies a VDC's networks, subnets included, so that no view shares them.
func cloneNetworks(nets []events.Network) []events.Network {
	if nets == nil {
		return nil
	}
	out := make([]events.Network, len(nets))
	for i, n := range nets {
		out[i] = events.Network{Name: n.Name, CIDRs: slices.Clone(n.CIDRs)}
	}
	return out
}
