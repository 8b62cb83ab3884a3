package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/projector"
	"github.com/kaasproject/kaas/queries"
)

// maxConflicts bounds the read-and-write-again rounds of one entity update (CSE's
// MAX_RDE_UPDATE_ATTEMPTS): another writer that keeps winning is waited out with a backoff.
const maxConflicts = 10

// viewsWait bounds the wait for the views to reach the records that marked an item.
const viewsWait = 30 * time.Second

// reconcile makes VCD match the views for one item, once the views reached the records
// that marked it.
func (m *Mirror) reconcile(ctx context.Context, w work) error {
	wctx, cancel := context.WithTimeout(ctx, viewsWait)
	err := m.views.WaitFor(wctx, w.mark.Commands, w.mark.Events)
	cancel()
	if err != nil {
		return fmt.Errorf("the views have not reached commands %d and events %d: %w", w.mark.Commands, w.mark.Events, err)
	}
	if w.kind() == kindOp {
		return m.reconcileOp(ctx, w.id())
	}
	return m.reconcileCluster(ctx, w.id(), w.full)
}

// reconcileCluster makes the cluster's entity in VCD what the queries render for it: one
// entity while the cluster exists, with its content, owner, org, state RESOLVED and access
// controls; none once it is deleted. full also looks in VCD for entities kaas did not link
// (made twice, or whose link was lost).
func (m *Mirror) reconcileCluster(ctx context.Context, id string, full bool) error {
	if m.views.IsTemplate(id) {
		return nil // a template revision: no entity in VCD
	}
	cv, ok := m.views.Cluster(id)
	live := ok && cv.Exists()
	link := m.links.cluster(id)
	if !live && link.Gone && !full {
		return nil // deleted with its cluster
	}
	var cur *Entity
	if link.Entity != "" && !link.Gone {
		e, err := m.vcd.Entity(ctx, link.Entity)
		switch {
		case errors.Is(err, ErrNotFound): // removed behind kaas's back (or by kaas, before a crash)
		case err != nil:
			return err
		default:
			cur = &e
		}
	}
	if full || (cur == nil && link.Creating) {
		found, err := m.vcd.FindEntities(ctx, id)
		if err != nil {
			return err
		}
		slices.SortFunc(found, func(a, b Entity) int { return strings.Compare(a.ID, b.ID) })
		for _, e := range found {
			switch {
			case cur == nil:
				cur = &e
			case e.ID != cur.ID: // one cluster, one entity
				if err := m.deleteEntity(ctx, e); err != nil {
					return err
				}
			}
		}
	}
	if !live {
		if cur != nil {
			if err := m.deleteEntity(ctx, *cur); err != nil {
				return err
			}
		}
		switch {
		case link.Entity != "" && !link.Gone:
			return m.links.putCluster(ctx, id, clusterLink{Entity: link.Entity, Gone: true})
		case link.Creating:
			return m.links.putCluster(ctx, id, clusterLink{})
		}
		return nil
	}
	want, err := m.desired(cv)
	if err != nil {
		return err
	}
	tenant := Tenant{ID: cv.Org(), Name: want.orgName}
	if cur != nil && cur.Org != "" && !strings.EqualFold(cur.Org, tenant.ID) {
		// An entity cannot move to another org: it is made again where it belongs.
		if err := m.deleteEntity(ctx, *cur); err != nil {
			return err
		}
		cur = nil
	}
	if cur == nil {
		if err := m.links.putCluster(ctx, id, clusterLink{Creating: true}); err != nil {
			return err
		}
		newID, err := m.vcd.CreateEntity(ctx, tenant, want.Entity)
		if err != nil {
			return err
		}
		m.m.wrote(writeEntityCreate)
		if err := m.links.putCluster(ctx, id, clusterLink{Entity: newID}); err != nil {
			return err
		}
		e, err := m.vcd.Entity(ctx, newID)
		if err != nil {
			return err
		}
		cur = &e
		m.log.Info("mirror: cluster entity made in VCD", "cluster_id", id, "entity", newID)
	} else if link.Entity != cur.ID {
		if err := m.links.putCluster(ctx, id, clusterLink{Entity: cur.ID}); err != nil {
			return err
		}
	}
	// The content names the entity (id, status.uid): render again now that it is linked.
	if want, err = m.desired(cv); err != nil {
		return err
	}
	for attempt := 1; !sameEntity(*cur, want.Entity); attempt++ {
		upd := want.Entity
		upd.ID, upd.ETag, upd.Org = cur.ID, cur.ETag, cur.Org
		e, err := m.vcd.UpdateEntity(ctx, upd)
		if errors.Is(err, ErrConflict) && attempt < maxConflicts {
			m.m.retries.WithLabelValues("conflict").Inc()
			if e, err = m.vcd.Entity(ctx, cur.ID); err != nil {
				return err
			}
			cur = &e
			continue
		}
		if err != nil {
			return err
		}
		m.m.wrote(writeEntityUpdate)
		cur = &e
	}
	if cur.State != StateResolved {
		e, err := m.vcd.ResolveEntity(ctx, cur.ID)
		if err != nil {
			return err
		}
		m.m.wrote(writeResolve)
		if e.State != StateResolved {
			return &Error{Op: "resolve entity " + cur.ID, Message: "VCD found the content does not fit the entity type: state " + e.State}
		}
	}
	if err := m.reconcileACL(ctx, tenant, cur.ID, cv.Owner(), cv.ACL()); err != nil {
		return err
	}
	if cv.State != nil && cv.State.VAppID != "" {
		return m.reconcileVAppACL(ctx, tenant, cv.State.VAppID, cv.ACL())
	}
	return nil
}

// deleteEntity removes an entity; one already gone is fine. VCD deletes only a resolved
// entity: one left PRE_CREATED (by a crash after its create) is resolved first, as CSE
// resolves before its rollback delete.
func (m *Mirror) deleteEntity(ctx context.Context, e Entity) error {
	if e.State == StatePreCreated {
		if _, err := m.vcd.ResolveEntity(ctx, e.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	err := m.vcd.DeleteEntity(ctx, e.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil {
		m.m.wrote(writeEntityDelete)
	}
	return err
}

// desiredEntity is a cluster's entity as it should be in VCD, and its org's name.
type desiredEntity struct {
	Entity
	orgName string
}

// desired renders the cluster as the /api/cse routes do at the API version, with the links
// known now.
func (m *Mirror) desired(cv projector.ClusterView) (desiredEntity, error) {
	d := queries.RenderLinked(cv, m.links)
	var body any = d.Entity
	if m.cfg.APIVersion == "35.0" {
		body = cse.ToV1(d).Entity
	}
	content, err := toMap(body)
	if err != nil {
		return desiredEntity{}, fmt.Errorf("render cluster %s: %w", cv.ID, err)
	}
	e := Entity{Name: d.Name, Content: content, Owner: d.Owner.ID, Org: d.Org.ID}
	if d.ExternalID != nil {
		e.ExternalID = *d.ExternalID
	}
	return desiredEntity{Entity: e, orgName: d.Entity.Metadata.OrgName}, nil
}

// toMap turns a value into its JSON object, as VCD stores and returns an entity's content.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// sameEntity reports whether VCD's entity shows what kaas wants: name, externalId, owner
// and content (compared as JSON values).
func sameEntity(have, want Entity) bool {
	return have.Name == want.Name && have.ExternalID == want.ExternalID && strings.EqualFold(have.Owner, want.Owner) &&
		reflect.DeepEqual(normalize(have.Content), normalize(want.Content))
}

// normalize makes two decodings of equal JSON compare equal (numbers as float64).
func normalize(m map[string]any) any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// clusterIDOf reads status.kaas.clusterId from an entity's content.
func clusterIDOf(content map[string]any) string {
	st, _ := content["status"].(map[string]any)
	k, _ := st["kaas"].(map[string]any)
	id, _ := k["clusterId"].(string)
	return id
}

// reconcileACL makes an entity's access controls the cluster's ACL: one grant per user it
// is shared with, at its level. The owner's own grant, which VCD may keep, is left alone.
func (m *Mirror) reconcileACL(ctx context.Context, t Tenant, entityID, owner string, acl []events.ACLEntry) error {
	want := map[string]events.ACLEntry{}
	for _, e := range acl {
		want[strings.ToLower(e.MemberID)] = e
	}
	have, err := m.vcd.AccessControls(ctx, entityID)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, ac := range have {
		member := strings.ToLower(ac.MemberID)
		e, wanted := want[member]
		switch {
		case wanted && !kept[member] && strings.EqualFold(ac.AccessLevelID, cluster.AccessLevelURN(e.AccessLevel)):
			kept[member] = true
			continue
		case !wanted && owner != "" && member == strings.ToLower(owner):
			continue
		}
		if err := m.vcd.RemoveAccessControl(ctx, entityID, ac.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		m.m.wrote(writeACL)
	}
	for _, e := range acl {
		if kept[strings.ToLower(e.MemberID)] {
			continue
		}
		ac := AccessControl{MemberID: e.MemberID, AccessLevelID: cluster.AccessLevelURN(e.AccessLevel)}
		if err := m.vcd.AddAccessControl(ctx, t, entityID, ac); err != nil {
			return err
		}
		m.m.wrote(writeACL)
		kept[strings.ToLower(e.MemberID)] = true
	}
	return nil
}

// reconcileVAppACL shares the cluster's vApp with the users its ACL names, as CSE did. A
// VCD that cannot (or a vApp already gone) is logged once, not retried: the entity, which
// CSE's clients read, is what matters.
func (m *Mirror) reconcileVAppACL(ctx context.Context, t Tenant, vappID string, acl []events.ACLEntry) error {
	changed, err := m.vcd.SetVAppAccess(ctx, t, vappID, acl)
	switch {
	case err == nil:
		if changed {
			m.m.wrote(writeVAppACL)
		}
		return nil
	case errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNotFound):
		m.mu.Lock()
		first := !m.skipped["vapp-access"]
		m.skipped["vapp-access"] = true
		m.mu.Unlock()
		if first {
			m.log.Warn("mirror: the vApps' sharing is not mirrored: VCD does not offer it", "err", err)
		}
		return nil
	}
	return err
}
