package cluster

import (
	"fmt"
	"strings"

	"github.com/kaasproject/kaas/events"
)

// Level is what a principal may do with a cluster. Each level includes the ones below it.
type Level int

// The levels, in CSE's terms: ReadOnly sees the cluster and its kubeconfig, ReadWrite also
// scales and upgrades it, FullControl also deletes and shares it.
const (
	LevelNone Level = iota
	LevelRead
	LevelWrite
	LevelFull
)

func (l Level) String() string {
	return [...]string{"none", events.AccessReadOnly, events.AccessReadWrite, events.AccessFullControl}[l]
}

// The rights of CSE's rights bundle (cse:nativeCluster Entitlement) that kaas checks. VCD
// puts the caller's rights in its security context; names compare without case.
const (
	RightView        = "cse:nativeCluster: View"
	RightModify      = "cse:nativeCluster: Modify"
	RightFullAccess  = "cse:nativeCluster: Full Access"
	RightAdminView   = "cse:nativeCluster: Administrator View"
	RightAdminFull   = "cse:nativeCluster: Administrator Full access"
	accessLevelURN   = "urn:vcloud:accessLevel:"
	userURNPrefix    = "urn:vcloud:user:"
	maxACLEntries    = 100
	maxUsernameBytes = 128
)

// Principal is who asks, as VCD's security context says: kaas authorizes from it without
// calling VCD back.
type Principal struct {
	User, Org string
	// Provider is set for users of VCD's System org: they see and manage every org.
	Provider bool
	// Rights are the right names VCD granted.
	Rights []string
}

func (p Principal) has(right string) bool {
	for _, r := range p.Rights {
		if strings.EqualFold(r, right) {
			return true
		}
	}
	return false
}

// own is the level the principal's rights allow on clusters it owns or that are shared with
// it; org is the level they allow on every cluster of its org.
func (p Principal) own() (own, org Level) {
	switch {
	case p.has(RightAdminFull):
		return LevelFull, LevelFull
	case p.has(RightFullAccess):
		own = LevelFull
	case p.has(RightModify):
		own = LevelWrite
	case p.has(RightView):
		own = LevelRead
	}
	if p.has(RightAdminView) {
		org = LevelRead
	}
	return own, org
}

// CanCreate reports whether the principal may create clusters in its org.
func (p Principal) CanCreate() bool {
	own, _ := p.own()
	return p.Provider || own == LevelFull
}

// SeesAll reports whether the principal sees every cluster of its org (or of every org):
// a list need not be filtered cluster by cluster.
func (p Principal) SeesAll() bool {
	_, org := p.own()
	return p.Provider || org > LevelNone
}

// On returns the principal's level on a cluster of org, owned by owner and shared by acl.
// Another org's cluster is LevelNone for every tenant: it must look as if it did not exist.
func (p Principal) On(org, owner string, acl []events.ACLEntry) Level {
	if p.Provider {
		return LevelFull
	}
	if org == "" || p.Org != org {
		return LevelNone
	}
	own, all := p.own()
	rel := LevelNone
	if owner != "" && owner == p.User {
		rel = LevelFull
	} else {
		for _, e := range acl {
			if e.MemberID == p.User {
				rel = max(rel, levelOf(e.AccessLevel))
			}
		}
	}
	// Sharing grants at most what the user's rights allow on any cluster.
	return max(all, min(own, rel))
}

func levelOf(access string) Level {
	switch access {
	case events.AccessReadOnly:
		return LevelRead
	case events.AccessReadWrite:
		return LevelWrite
	case events.AccessFullControl:
		return LevelFull
	}
	return LevelNone
}

// AccessLevelURN is how CSE's API names an access level.
func AccessLevelURN(level string) string { return accessLevelURN + level }

// ParseAccessLevel accepts an access level as a URN (urn:vcloud:accessLevel:ReadOnly) or a
// bare name, and returns the name.
func ParseAccessLevel(s string) (string, bool) {
	name := strings.TrimPrefix(s, accessLevelURN)
	switch name {
	case events.AccessReadOnly, events.AccessReadWrite, events.AccessFullControl:
		return name, true
	}
	return "", false
}

// ValidateACL checks an ACL: user URNs, known access levels, each user once.
func ValidateACL(entries []events.ACLEntry) error {
	if len(entries) > maxACLEntries {
		return &Rejection{Failure: events.Failure{Code: events.CodeInvalidChange,
			Message: fmt.Sprintf("a cluster is shared with at most %d users, not %d", maxACLEntries, len(entries))}, Field: "acl"}
	}
	seen := map[string]bool{}
	for i, e := range entries {
		bad := func(format string, args ...any) error {
			return &Rejection{Failure: events.Failure{Code: events.CodeInvalidChange,
				Message: fmt.Sprintf("accessSetting[%d]: ", i) + fmt.Sprintf(format, args...)}, Field: "acl"}
		}
		id := strings.TrimPrefix(e.MemberID, userURNPrefix)
		if !strings.HasPrefix(e.MemberID, userURNPrefix) || id == "" || strings.ContainsAny(id, " /?#\"") || len(id) > 64 {
			return bad("memberId %q is not a user URN (urn:vcloud:user:<uuid>)", e.MemberID)
		}
		if _, ok := ParseAccessLevel(e.AccessLevel); !ok || e.AccessLevel != strings.TrimPrefix(e.AccessLevel, accessLevelURN) {
			return bad("accessLevelId %q is not ReadOnly, ReadWrite or FullControl", e.AccessLevel)
		}
		if len(e.Username) > maxUsernameBytes {
			return bad("username is longer than %d bytes", maxUsernameBytes)
		}
		// VCD's URNs do not depend on case: one user in two spellings is there twice.
		member := strings.ToLower(e.MemberID)
		if seen[member] {
			return bad("%s appears twice", e.MemberID)
		}
		seen[member] = true
	}
	return nil
}
