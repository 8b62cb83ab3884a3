package cluster

import (
	"testing"

	"github.com/kaasproject/kaas/events"
)

func TestAccess(t *testing.T) {
	const org, other = "urn:vcloud:org:acme", "urn:vcloud:org:globex"
	owner, bob, carol := "urn:vcloud:user:alice", "urn:vcloud:user:bob", "urn:vcloud:user:carol"
	acl := []events.ACLEntry{{MemberID: bob, AccessLevel: events.AccessReadWrite}, {MemberID: carol, AccessLevel: events.AccessFullControl}}
	p := func(user, org string, rights ...string) Principal {
		return Principal{User: user, Org: org, Rights: rights}
	}
	for _, tt := range []struct {
		name   string
		who    Principal
		want   Level
		create bool
	}{
		{"owner with full access", p(owner, org, RightFullAccess), LevelFull, true},
		{"owner whose rights were cut to view", p(owner, org, RightView), LevelRead, false},
		{"owner without rights", p(owner, org), LevelNone, false},
		{"shared read-write, full access right", p(bob, org, RightFullAccess), LevelWrite, true},
		{"shared read-write, view right only", p(bob, org, "CSE:NATIVECLUSTER: VIEW"), LevelRead, false},
		{"shared full control, modify right", p(carol, org, RightModify), LevelWrite, false},
		{"not shared, full access", p("urn:vcloud:user:dave", org, RightFullAccess), LevelNone, true},
		{"org administrator view", p("urn:vcloud:user:dave", org, RightAdminView), LevelRead, false},
		{"org administrator full", p("urn:vcloud:user:dave", org, RightAdminFull), LevelFull, true},
		{"other org administrator", p("urn:vcloud:user:eve", other, RightAdminFull), LevelNone, true},
		{"other org, same user URN in the ACL", p(bob, other, RightFullAccess), LevelNone, true},
		{"provider", Principal{User: "urn:vcloud:user:root", Org: "urn:vcloud:org:system", Provider: true}, LevelFull, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.who.On(org, owner, acl); got != tt.want {
				t.Errorf("On = %v, want %v", got, tt.want)
			}
			if got := tt.who.CanCreate(); got != tt.create {
				t.Errorf("CanCreate = %v, want %v", got, tt.create)
			}
		})
	}
}

func TestValidateACL(t *testing.T) {
	good := events.ACLEntry{MemberID: "urn:vcloud:user:1b2c", AccessLevel: events.AccessReadOnly}
	for _, tt := range []struct {
		name    string
		entries []events.ACLEntry
		ok      bool
	}{
		{"empty", nil, true},
		{"one", []events.ACLEntry{good}, true},
		{"not a user", []events.ACLEntry{{MemberID: "urn:vcloud:org:1", AccessLevel: events.AccessReadOnly}}, false},
		{"bare name", []events.ACLEntry{{MemberID: "bob", AccessLevel: events.AccessReadOnly}}, false},
		{"unknown level", []events.ACLEntry{{MemberID: good.MemberID, AccessLevel: "Owner"}}, false},
		{"twice", []events.ACLEntry{good, good}, false},
		{"twice, in other case", []events.ACLEntry{good, {MemberID: "urn:vcloud:user:1B2C", AccessLevel: events.AccessReadWrite}}, false},
	} {
		if err := ValidateACL(tt.entries); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
