// Package vcdtest is the conformance suite every executors.VCD implementation must pass:
// the in-memory VCD, and the govcd adapter against the simulator or, when KAAS_VCD_URL is
// set, against a real VCD. It drives every call the executors make, in the order they make
// them, and checks the contract: calls are idempotent, never wait for VCD, find what an
// earlier call made, classify errors, and give each VM the storage profile, sizing policy,
// CPUs and memory its spec names, from what the org VDC offers. RunTemplates does the same
// for the calls of template builds and imports: uploads, captures, template metadata and
// deletes.
package vcdtest

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/bootstrap"
)

// Target is what the suite runs against.
type Target struct {
	VCD executors.VCD
	// Org is a tenant org (name and URN); OtherOrgID is the URN of another org.
	Org        executors.Org
	OtherOrgID string
	VDC        string
	Network    string
	// Template is a template whose guest bootstrap succeeds.
	Template events.TemplateRef
	// StorageProfile is a storage profile of the VDC other than its default, and
	// SizingPolicy a VM sizing policy assigned to it that sets CPUs and memory big enough
	// for a control plane (2 CPUs, 2048 MB).
	StorageProfile, SizingPolicy string
	// Hardware reads what a VM got, from VCD itself where the target can (the simulator's
	// inventory), so that the suite checks what VCD holds.
	Hardware func(ctx context.Context, vm executors.VMRef) (executors.VMHardware, error)
	// User, when set, is a user of Org that Cloud must list, with UserID its URN when
	// known (a real VCD's are not).
	User, UserID string
	// Timeout bounds each wait for VCD (tasks, boots); default 2 minutes.
	Timeout time.Duration
	// Poll is how often a pending call is repeated; default 100 ms.
	Poll time.Duration

	// RunTemplates only. BuildOrg, BuildVDC and BuildNetwork are where template builds
	// happen: an org that can write to the provider's catalog; empty, Org, VDC and Network.
	BuildOrg               executors.Org
	BuildVDC, BuildNetwork string
	// Fresh returns a client of the same VCD that remembers nothing of VCD's earlier calls,
	// as after a restart of kaasd; nil, VCD itself (an implementation that keeps no memory
	// besides VCD's own state).
	Fresh func(t *testing.T) executors.VCD
}

func (tg *Target) setDefaults() {
	if tg.Timeout == 0 {
		tg.Timeout = 2 * time.Minute
	}
	if tg.Poll == 0 {
		tg.Poll = 100 * time.Millisecond
	}
}

// Run runs the suite.
func Run(t *testing.T, tg Target) {
	if tg.StorageProfile == "" || tg.SizingPolicy == "" || tg.Hardware == nil {
		t.Fatal("the target needs a storage profile, a sizing policy and a way to read a VM's hardware")
	}
	tg.setDefaults()
	ctx := t.Context()
	v := tg.VCD

	var tmpl events.Template
	t.Run("ResolveTemplate", func(t *testing.T) {
		var err error
		tmpl, err = retry(ctx, tg, func() (events.Template, error) { return v.ResolveTemplate(ctx, tg.Org, tg.Template) })
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.Name != tg.Template.Name || tmpl.Revision != tg.Template.Revision || tmpl.KubernetesVersion == "" {
			t.Fatalf("resolved %+v", tmpl)
		}
		_, err = retry(ctx, tg, func() (events.Template, error) {
			return v.ResolveTemplate(ctx, tg.Org, events.TemplateRef{Name: "no-such-template-" + uuid.NewString()[:8], Revision: 1})
		})
		wantTerminal(t, err, events.CodeTemplateNotFound)
		if tg.OtherOrgID != "" {
			_, err = retry(ctx, tg, func() (events.Template, error) {
				return v.ResolveTemplate(ctx, executors.Org{Name: tg.Org.Name, ID: tg.OtherOrgID}, tg.Template)
			})
			wantTerminal(t, err, "")
		}
	})
	if tmpl.KubernetesVersion == "" {
		t.Fatal("no template: the rest of the suite cannot run")
	}

	clusterID := uuid.NewString()
	ref := executors.VAppRef{Org: tg.Org.Name, OrgID: tg.Org.ID, VDC: tg.VDC, Name: "conf-" + clusterID[:8], ClusterID: clusterID}
	meta := map[string]string{executors.MetaClusterID: clusterID, executors.MetaOrgID: tg.Org.ID}
	t.Cleanup(func() {
		// Leave nothing behind, whatever failed.
		ctx, cancel := context.WithTimeout(context.Background(), tg.Timeout)
		defer cancel()
		_, _ = wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVApp(ctx, ref) })
	})

	var subnets []netip.Prefix     // of tg.Network, as Cloud reports them
	var sizing events.SizingPolicy // tg.SizingPolicy, as Cloud reports it
	var defaultProfile string      // the VDC's default storage profile, as Cloud reports it
	t.Run("Cloud", func(t *testing.T) {
		cloud, err := v.Cloud(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vdc := slices.IndexFunc(cloud.VDCs, func(d events.VDC) bool { return d.Name == tg.VDC && strings.EqualFold(d.OrgName, tg.Org.Name) })
		var nets *events.VDCNetworks
		for i, n := range cloud.Networks {
			if vdc >= 0 && n.VDC == cloud.VDCs[vdc].ID {
				nets = &cloud.Networks[i]
			}
		}
		if nets == nil {
			t.Fatalf("no networks for VDC %s in %+v", tg.VDC, cloud.Networks)
		}
		i := slices.IndexFunc(nets.Networks, func(n events.Network) bool { return n.Name == tg.Network })
		if i < 0 {
			t.Fatalf("VDC %s's networks %+v lack %s", tg.VDC, nets.Networks, tg.Network)
		}
		for _, c := range nets.Networks[i].CIDRs {
			p, err := netip.ParsePrefix(c)
			if err != nil || p.Masked() != p {
				t.Errorf("network %s's subnet %q is not a canonical CIDR block", tg.Network, c)
			}
			subnets = append(subnets, p)
		}
		if !slices.ContainsFunc(cloud.Templates, func(x events.Template) bool {
			return x.Name == tg.Template.Name && x.Revision == tg.Template.Revision && x.KubernetesVersion != ""
		}) {
			t.Errorf("templates %+v lack %+v", cloud.Templates, tg.Template)
		}
		if !slices.ContainsFunc(cloud.VDCs, func(d events.VDC) bool {
			return d.Name == tg.VDC && strings.EqualFold(d.OrgName, tg.Org.Name) && strings.HasPrefix(d.ID, "urn:vcloud:vdc:")
		}) {
			t.Errorf("VDCs %+v lack %s of %s", cloud.VDCs, tg.VDC, tg.Org.Name)
		}
		// What the VDC offers VMs: its storage profiles, one the default, and its sizing
		// policies with the CPUs and memory they set.
		id := cloud.VDCs[vdc].ID
		var profiles []events.StorageProfile
		for _, p := range cloud.StorageProfiles {
			if p.VDC == id {
				profiles = p.Profiles
			}
		}
		defaults := 0
		for _, p := range profiles {
			if p.Default {
				defaults++
				defaultProfile = p.Name
			}
		}
		if defaults != 1 || defaultProfile == tg.StorageProfile ||
			!slices.ContainsFunc(profiles, func(p events.StorageProfile) bool { return p.Name == tg.StorageProfile }) {
			t.Errorf("VDC %s's storage profiles %+v: want one default and %s besides", tg.VDC, profiles, tg.StorageProfile)
		}
		for _, p := range cloud.SizingPolicies {
			if i := slices.IndexFunc(p.Policies, func(sp events.SizingPolicy) bool { return sp.Name == tg.SizingPolicy }); p.VDC == id && i >= 0 {
				sizing = p.Policies[i]
			}
		}
		if sizing.CPU < 2 || sizing.MemoryMB < 2048 || sizing.ID == "" {
			t.Errorf("VDC %s's sizing policies %+v: want %s, setting at least 2 CPUs and 2048 MB", tg.VDC, cloud.SizingPolicies, tg.SizingPolicy)
		}
		if tg.User != "" && !slices.ContainsFunc(cloud.Users, func(u events.User) bool {
			return u.Name == tg.User && strings.HasPrefix(u.ID, "urn:vcloud:user:") && (tg.UserID == "" || strings.EqualFold(u.ID, tg.UserID)) &&
				(tg.Org.ID == "" || strings.EqualFold(u.OrgID, tg.Org.ID))
		}) {
			t.Errorf("users %+v lack %s (%s) of %s", cloud.Users, tg.User, tg.UserID, tg.Org.ID)
		}
	})

	t.Run("EnsureVApp refuses what is missing", func(t *testing.T) {
		bad := ref
		bad.VDC = "no-such-vdc"
		_, err := wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: bad, Network: tg.Network})
		})
		wantTerminal(t, err, events.CodeVDCNotFound)
		_, err = wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: "no-such-network"})
		})
		wantTerminal(t, err, events.CodeNetworkNotFound)
	})

	var vappID string
	t.Run("EnsureVApp", func(t *testing.T) {
		st, err := wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: tg.Network, Metadata: meta})
		})
		if err != nil {
			t.Fatal(err)
		}
		vappID = st.ID
		// Again: finds the same vApp, makes nothing.
		again, err := v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: tg.Network, Metadata: meta})
		if err != nil || !again.Done || again.ID != vappID {
			t.Fatalf("second EnsureVApp: %+v %v (first %s)", again, err, vappID)
		}
		// Another cluster asking for a vApp of the same name is refused.
		other := ref
		other.ClusterID = uuid.NewString()
		_, err = wait(ctx, tg, func() (executors.Status, error) {
			return v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: other, Network: tg.Network})
		})
		wantTerminal(t, err, events.CodeNameConflict)
	})
	if vappID == "" {
		t.Fatal("no vApp: the rest of the suite cannot run")
	}

	cp := executors.VMRef{VApp: ref, Name: "mstr-conf"}
	worker := executors.VMRef{VApp: ref, Name: "node-conf"}
	vmSpec := func(vm executors.VMRef, role, join string) executors.VMSpec {
		ud, err := bootstrap.Render(role, bootstrap.Params{ClusterName: ref.Name, ClusterID: clusterID, NodeName: vm.Name,
			KubernetesVersion: tmpl.KubernetesVersion, CNI: tmpl.CNI.Name, CNIVersion: tmpl.CNI.Version, JoinCommand: join})
		if err != nil {
			t.Fatal(err)
		}
		return executors.VMSpec{VMRef: vm, Role: role, Template: tmpl, Network: tg.Network,
			GuestInfo: map[string]string{executors.GuestUserData: base64.StdEncoding.EncodeToString([]byte(ud)), executors.GuestUserDataEncoding: "base64"},
			Metadata:  map[string]string{executors.MetaClusterID: clusterID, executors.MetaNodeRole: role}}
	}

	// A VM of a sizing policy or storage profile the VDC does not offer is refused, and
	// nothing is made.
	t.Run("EnsureVM refuses what the VDC does not offer", func(t *testing.T) {
		for _, tc := range []struct {
			change func(*executors.VMSpec)
			code   string
		}{
			{func(s *executors.VMSpec) { s.SizingClass = "no-such-policy-" + clusterID[:8] }, events.CodeSizingPolicyNotFound},
			{func(s *executors.VMSpec) { s.StorageProfile = "no-such-profile-" + clusterID[:8] }, events.CodeStorageProfileNotFound},
		} {
			spec := vmSpec(executors.VMRef{VApp: ref, Name: "nfsd-refused"}, events.RoleNFS, "")
			tc.change(&spec)
			_, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, spec) })
			wantTerminal(t, err, tc.code)
		}
		if _, err := retry(ctx, tg, func() (map[string]string, error) {
			return v.GuestInfo(ctx, executors.VMRef{VApp: ref, Name: "nfsd-refused"})
		}); err == nil {
			t.Fatal("a refused VM was made")
		}
		// CPUs other than its sizing policy sets VCD refuses too (it may have made the VM
		// by then, which a delete removes).
		clash := vmSpec(executors.VMRef{VApp: ref, Name: "nfsd-clash"}, events.RoleNFS, "")
		clash.SizingClass, clash.CPU = tg.SizingPolicy, sizing.CPU+2
		_, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, clash) })
		wantTerminal(t, err, "")
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVM(ctx, clash.VMRef) }); err != nil {
			t.Fatal(err)
		}
	})

	var join string
	t.Run("control plane", func(t *testing.T) {
		spec := vmSpec(cp, events.RoleControlPlane, "")
		spec.SizingClass, spec.StorageProfile = tg.SizingPolicy, tg.StorageProfile
		st, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, spec) })
		if err != nil {
			t.Fatal(err)
		}
		again, err := v.EnsureVM(ctx, spec)
		if err != nil || !again.Done || again.ID != st.ID {
			t.Fatalf("second EnsureVM: %+v %v", again, err)
		}
		// The VM is on the storage profile and of the sizing policy the spec names.
		want := executors.VMHardware{SizingPolicy: tg.SizingPolicy, StorageProfile: tg.StorageProfile, CPU: sizing.CPU, MemoryMB: sizing.MemoryMB}
		if hw, err := retry(ctx, tg, func() (executors.VMHardware, error) { return tg.Hardware(ctx, cp) }); err != nil || hw != want {
			t.Errorf("the control plane got %+v %v, want %+v", hw, err, want)
		}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.PowerOn(ctx, cp) }); err != nil {
			t.Fatal(err)
		}
		gi, err := waitGuest(ctx, tg, v, cp, executors.GuestStatus, "done")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(gi[executors.GuestJoinCommand])
		if gi[executors.GuestKubeconfig] == "" || gi[executors.GuestIP] == "" {
			t.Fatalf("control plane published %v", keys(gi))
		}
		// kaas takes only kubeadm's own join command from a guest.
		if _, err := bootstrap.ParseJoin(string(b)); err != nil {
			t.Fatalf("control plane published a join command kaas refuses: %v", err)
		}
		join = string(b)
		// The node got its address in the subnet Cloud reported for its network.
		if ip, err := netip.ParseAddr(gi[executors.GuestIP]); len(subnets) > 0 &&
			(err != nil || !slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(ip) })) {
			t.Errorf("the control plane's address %q is outside its network's subnets %v", gi[executors.GuestIP], subnets)
		}
	})

	// A delete looks for the cluster's vApp where the cluster's create would have made it.
	// Where that cannot be (no such org or VDC, an org that is not the caller's) or where the
	// vApp of that name is another cluster's, the delete is done at once and touches nothing.
	t.Run("deletes find nothing outside the cluster's org, VDC and vApp", func(t *testing.T) {
		if join == "" {
			t.Skip("no control plane")
		}
		places := map[string]executors.VAppRef{}
		other := ref
		other.ClusterID = uuid.NewString()
		places["another cluster's vApp of the same name"] = other
		noOrg := ref
		noOrg.Org = "no-such-org-" + clusterID[:8]
		places["an org that does not exist"] = noOrg
		noVDC := ref
		noVDC.VDC = "no-such-vdc-" + clusterID[:8]
		places["a VDC that does not exist"] = noVDC
		if tg.OtherOrgID != "" {
			notOurs := ref
			notOurs.OrgID = tg.OtherOrgID
			places["an org that is not the caller's"] = notOurs
		}
		for what, r := range places {
			st, err := retry(ctx, tg, func() (executors.Status, error) { return v.DeleteVM(ctx, executors.VMRef{VApp: r, Name: cp.Name}) })
			if err != nil || !st.Done {
				t.Errorf("DeleteVM in %s: %+v %v, want done at once", what, st, err)
			}
			st, err = retry(ctx, tg, func() (executors.Status, error) { return v.DeleteVApp(ctx, r) })
			if err != nil || !st.Done {
				t.Errorf("DeleteVApp in %s: %+v %v, want done at once", what, st, err)
			}
		}
		again, err := v.EnsureVApp(ctx, executors.VAppSpec{VAppRef: ref, Network: tg.Network, Metadata: meta})
		if err != nil || !again.Done || again.ID != vappID {
			t.Fatalf("the cluster's vApp after deletes elsewhere: %+v %v (was %s)", again, err, vappID)
		}
		if _, err := retry(ctx, tg, func() (map[string]string, error) { return v.GuestInfo(ctx, cp) }); err != nil {
			t.Fatalf("the control plane after deletes elsewhere: %v", err)
		}
	})

	t.Run("worker joins with the join command", func(t *testing.T) {
		if join == "" {
			t.Skip("no control plane")
		}
		spec := vmSpec(worker, events.RoleWorker, join)
		spec.CPU, spec.MemoryMB = 3, 3072
		// The VM is made first without its user data, as kaas makes workers while their
		// control plane boots; the second EnsureVM writes what it lacks.
		bare := spec
		bare.GuestInfo = nil
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, bare) }); err != nil {
			t.Fatal(err)
		}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.EnsureVM(ctx, spec) }); err != nil {
			t.Fatal(err)
		}
		// The VM has the CPUs and memory the spec names, on the VDC's default storage profile.
		hw, err := retry(ctx, tg, func() (executors.VMHardware, error) { return tg.Hardware(ctx, worker) })
		if err != nil || hw.CPU != 3 || hw.MemoryMB != 3072 || hw.StorageProfile != defaultProfile {
			t.Errorf("the worker got %+v %v, want 3 CPUs, 3072 MB on %s", hw, err, defaultProfile)
		}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.PowerOn(ctx, worker) }); err != nil {
			t.Fatal(err)
		}
		if _, err := waitGuest(ctx, tg, v, worker, executors.GuestStatus, "done"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SetGuestInfo", func(t *testing.T) {
		want := map[string]string{executors.GuestUpgradeTarget: tmpl.KubernetesVersion}
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.SetGuestInfo(ctx, cp, want) }); err != nil {
			t.Fatal(err)
		}
		gi, err := retry(ctx, tg, func() (map[string]string, error) { return v.GuestInfo(ctx, cp) })
		if err != nil || gi[executors.GuestUpgradeTarget] != tmpl.KubernetesVersion {
			t.Fatalf("guestinfo after set: %v %v", keys(gi), err)
		}
	})

	t.Run("DeleteVM", func(t *testing.T) {
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVM(ctx, worker) }); err != nil {
			t.Fatal(err)
		}
		st, err := v.DeleteVM(ctx, worker)
		if err != nil || !st.Done {
			t.Fatalf("deleting a deleted VM: %+v %v", st, err)
		}
		if _, err := retry(ctx, tg, func() (map[string]string, error) { return v.GuestInfo(ctx, worker) }); err == nil {
			t.Fatal("a deleted VM still answers")
		}
	})

	t.Run("DeleteVApp", func(t *testing.T) {
		if _, err := wait(ctx, tg, func() (executors.Status, error) { return v.DeleteVApp(ctx, ref) }); err != nil {
			t.Fatal(err)
		}
		st, err := v.DeleteVApp(ctx, ref)
		if err != nil || !st.Done {
			t.Fatalf("deleting a deleted vApp: %+v %v", st, err)
		}
	})
}

// wait repeats a level-triggered call until it is done, retrying retryable errors.
func wait(ctx context.Context, tg Target, f func() (executors.Status, error)) (executors.Status, error) {
	return until(ctx, tg, func() (executors.Status, bool, error) {
		st, err := f()
		return st, st.Done, err
	})
}

// retry repeats a call while it fails with a retryable error.
func retry[T any](ctx context.Context, tg Target, f func() (T, error)) (T, error) {
	return until(ctx, tg, func() (T, bool, error) {
		v, err := f()
		return v, true, err
	})
}

func until[T any](ctx context.Context, tg Target, f func() (T, bool, error)) (T, error) {
	deadline := time.Now().Add(tg.Timeout)
	for {
		v, done, err := f()
		var ee *executors.Error
		switch {
		case err != nil && (!errors.As(err, &ee) || !ee.Retryable):
			return v, err
		case err == nil && done:
			return v, nil
		case time.Now().After(deadline):
			if err == nil {
				err = errors.New("timed out waiting for VCD")
			}
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(tg.Poll):
		}
	}
}

func waitGuest(ctx context.Context, tg Target, v executors.VCD, vm executors.VMRef, key, want string) (map[string]string, error) {
	return until(ctx, tg, func() (map[string]string, bool, error) {
		gi, err := v.GuestInfo(ctx, vm)
		if err == nil && strings.HasPrefix(gi[key], "failed") {
			return gi, false, errors.New(vm.Name + ": " + gi[key])
		}
		return gi, gi[key] == want, err
	})
}

func wantTerminal(t *testing.T, err error, code string) {
	t.Helper()
	if !isTerminal(err, code) {
		t.Fatalf("want a terminal %s error, got %v", code, err)
	}
}

// isTerminal reports whether err is a terminal executors.Error of that code (any code when
// code is empty).
func isTerminal(err error, code string) bool {
	var ee *executors.Error
	return errors.As(err, &ee) && !ee.Retryable && (code == "" || ee.Code == code)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
