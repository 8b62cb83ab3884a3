package vcdsim_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
)

// A vApp's sharing through govcd's own calls: users of the vApp's org at VCD's levels, or
// the whole org; anything else refused and the sharing left as it was.
func TestVAppSharing(t *testing.T) {
	sim, base := start(t)
	vc := client(t, base, "alice", "alice-pass", "acme")
	_, vapp := vappWithNetwork(t, vc, "shared")
	userHREF := func(org, name string) string {
		id := vcdsim.UserURN(org, name)
		return base + "/api/admin/user/" + id[strings.LastIndex(id, ":")+1:]
	}
	sharedWith := func() []string {
		for _, a := range sim.Inventory().VApps {
			if a.Name == "shared" {
				return a.SharedWith
			}
		}
		t.Fatal("no vApp")
		return nil
	}
	if acl, err := vapp.GetAccessControl(false); err != nil || acl.IsSharedToEveryone || acl.AccessSettings != nil {
		t.Fatalf("a new vApp's sharing: %+v %v", acl, err)
	}
	with := func(settings ...*types.AccessSetting) *types.ControlAccessParams {
		return &types.ControlAccessParams{AccessSettings: &types.AccessSettingList{AccessSetting: settings}}
	}
	set := func(org, name, level string) *types.AccessSetting {
		return &types.AccessSetting{Subject: &types.LocalSubject{HREF: userHREF(org, name), Type: "application/vnd.vmware.admin.user+xml"}, AccessLevel: level}
	}
	if err := vapp.SetAccessControl(with(set("acme", "bob", "ReadOnly")), false); err != nil {
		t.Fatal(err)
	}
	acl, err := vapp.GetAccessControl(false)
	if err != nil || acl.AccessSettings == nil || len(acl.AccessSettings.AccessSetting) != 1 ||
		acl.AccessSettings.AccessSetting[0].Subject.Name != "bob" || acl.AccessSettings.AccessSetting[0].AccessLevel != "ReadOnly" {
		t.Fatalf("after sharing with bob: %+v %v", acl, err)
	}
	for name, bad := range map[string]*types.ControlAccessParams{
		"another org's user": with(set("System", "administrator", "ReadOnly")),
		"an unknown user":    with(set("acme", "nobody", "ReadOnly")),
		"an unknown level":   with(set("acme", "bob", "Owner")),
		"everyone, no level": {IsSharedToEveryone: true},
	} {
		if err := vapp.SetAccessControl(bad, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := sharedWith(); !slices.Equal(got, []string{"bob=ReadOnly"}) {
		t.Fatalf("after refusals: %v", got)
	}
	change := "Change"
	if err := vapp.SetAccessControl(&types.ControlAccessParams{IsSharedToEveryone: true, EveryoneAccessLevel: &change}, false); err != nil {
		t.Fatal(err)
	}
	if got := sharedWith(); !slices.Equal(got, []string{"*=Change"}) {
		t.Fatalf("shared with everyone: %v", got)
	}
	if err := vapp.RemoveAccessControl(false); err != nil {
		t.Fatal(err)
	}
	if got := sharedWith(); len(got) != 0 {
		t.Fatalf("after removing: %v", got)
	}
}
