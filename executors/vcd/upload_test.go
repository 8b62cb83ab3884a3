package vcd

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
	"github.com/kaasproject/kaas/executors/vcdtest"
)

func simConfig(t *testing.T) Config {
	t.Helper()
	cfg := vcdsim.Default()
	cfg.TaskDelay, cfg.BootDelay = vcdsim.Duration(30*time.Millisecond), vcdsim.Duration(150*time.Millisecond)
	sim, err := vcdsim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim)
	sim.SetBase(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return Config{URL: ts.URL + "/api", User: "administrator", Password: "kaas-admin", Insecure: true}
}

// startUpload begins an upload as govcd's UploadOvf does and stops there, as a kaasd killed
// before it sent the OVA's bytes: VCD holds an item waiting for them. It returns the item.
func startUpload(t *testing.T, cfg Config, name, owner string) *types.CatalogItem {
	t.Helper()
	vc, err := Login(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := org.GetCatalogByName("kaas-templates", false)
	if err != nil {
		t.Fatal(err)
	}
	link := cat.Catalog.Link.ForType("application/vnd.vmware.vcloud.uploadVAppTemplateParams+xml", "add")
	if link == nil {
		t.Fatal("the catalog offers no upload")
	}
	params := struct {
		XMLName     xml.Name `xml:"UploadVAppTemplateParams"`
		Xmlns       string   `xml:"xmlns,attr"`
		Name        string   `xml:"name,attr"`
		Description string   `xml:"Description"`
	}{Xmlns: types.XMLNamespaceVCloud, Name: name, Description: ownerMark("", owner)}
	var item types.CatalogItem
	if _, err := vc.Client.ExecuteRequest(link.HREF, http.MethodPost, "application/vnd.vmware.vcloud.uploadVAppTemplateParams+xml",
		"create item: %s", &params, &item); err != nil {
		t.Fatal(err)
	}
	return &item
}

// items lists the catalog's items of that name.
func items(t *testing.T, cfg Config, name string) []*types.Reference {
	t.Helper()
	vc, err := Login(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	org, err := vc.GetOrgByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := org.GetCatalogByName("kaas-templates", false)
	if err != nil {
		t.Fatal(err)
	}
	var out []*types.Reference
	for _, list := range cat.Catalog.CatalogItems {
		for _, ref := range list.CatalogItem {
			if ref.Name == name {
				out = append(out, ref)
			}
		}
	}
	return out
}

// An upload a killed kaasd left waiting for its bytes is cancelled, deleted and made again
// by the next call of the same owner; another owner's is waited for, untouched.
func TestEnsureImageReplacesAnInterruptedUpload(t *testing.T) {
	cfg := simConfig(t)
	ova, digest := vcdtest.WriteOVA(t, t.TempDir())
	owner := events.TemplateID("conf", 1)

	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	theirs := startUpload(t, cfg, "theirs", events.TemplateID("other", 1))
	for range 3 {
		st, err := c.EnsureImage(t.Context(), executors.ImageSpec{Org: "acme", Item: "theirs", OVA: ova, Owner: owner})
		if err != nil || st.Done {
			t.Fatalf("EnsureImage of another's upload: %+v %v, want not done", st, err)
		}
	}
	if got := items(t, cfg, "theirs"); len(got) != 1 || got[0].HREF != theirs.HREF {
		t.Fatalf("another's upload became %+v, want %s alone", *got[0], theirs.HREF)
	}

	stale := startUpload(t, cfg, "ours", owner)
	spec := executors.ImageSpec{Org: "acme", Item: "ours", OVA: ova, SHA256: digest, Owner: owner}
	var st executors.Status
	vcdtest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if st, err = c.EnsureImage(t.Context(), spec); err != nil {
			if ee, ok := err.(*executors.Error); !ok || !ee.Retryable {
				t.Fatal(err)
			}
			return err
		}
		if !st.Done {
			return fmt.Errorf("the image is not made: %+v", st)
		}
		return nil
	})
	got := items(t, cfg, "ours")
	if len(got) != 1 || got[0].HREF == stale.HREF {
		t.Fatalf("the catalog holds %+v, want one item other than the interrupted %s", got, stale.HREF)
	}
	if st.ID == "" {
		t.Fatal("no vApp template id")
	}
}

// The sweep of a failed import removes its owner's upload that VCD never finished, its
// task cancelled first, before its metadata names the owner; another's it leaves.
func TestDeleteCatalogItemSweepsAnUnfinishedUpload(t *testing.T) {
	cfg := simConfig(t)
	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	owner := events.TemplateID("conf", 1)
	startUpload(t, cfg, "ours", owner)
	theirs := startUpload(t, cfg, "theirs", events.TemplateID("other", 1))
	for _, name := range []string{"ours", "theirs"} {
		vcdtest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			st, err := c.DeleteCatalogItem(t.Context(), executors.ItemRef{Org: "acme", Name: name, Owner: owner, Unfinished: true})
			if err != nil {
				t.Fatal(err)
			}
			if !st.Done {
				return fmt.Errorf("the sweep of %s is not done: %+v", name, st)
			}
			return nil
		})
	}
	if got := items(t, cfg, "ours"); len(got) != 0 {
		t.Errorf("the owner's unfinished upload is still there: %+v", got)
	}
	if got := items(t, cfg, "theirs"); len(got) != 1 || got[0].HREF != theirs.HREF {
		t.Errorf("another's upload became %v, want %s", got, theirs.HREF)
	}
}
