package kaasd

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/kaasproject/kaas/deploy/rde"
	"github.com/kaasproject/kaas/executors/vcd"
	"github.com/kaasproject/kaas/ingress/vcdext"
)

// Extension is the API extension kaas registers with VCD, as CSE's installer does: VCD then
// publishes every call to a matching URL to the exchange with the routing key.
type Extension struct {
	Name, Namespace      string
	Exchange, RoutingKey string
	// Filters are URL regular expressions; CSE's are /api/cse and /api/cse/.*.
	Filters     []string
	Description string
}

// DefaultExtension is CSE's own registration, so that a VCD and its clients set up for CSE
// reach kaas unchanged.
func DefaultExtension(exchange, routingKey string) Extension {
	return Extension{Name: "cse", Namespace: "cse", Exchange: exchange, RoutingKey: routingKey,
		Filters: []string{"/api/cse", "/api/cse/.*"}, Description: "kaas: Kubernetes clusters for VMware Cloud Director (CSE 3.1 API)"}
}

// Installed says what Install did.
type Installed struct {
	HREF           string
	Created        bool
	Updated        bool
	FiltersAdded   []string
	FiltersPresent []string
}

const (
	nsVCloud       = "http://www.vmware.com/vcloud/v1.5"
	nsExtension    = "http://www.vmware.com/vcloud/extension/v1.5"
	mimeService    = "application/vnd.vmware.admin.service+xml"
	mimeAPIFilter  = "application/vnd.vmware.admin.apiFilter+xml"
	extensionRoot  = "/admin/extension/service"
	extensionQuery = "adminService"
)

// serviceOut is the vmext:Service document VCD takes.
type serviceOut struct {
	XMLName     xml.Name `xml:"vmext:Service"`
	Xmlns       string   `xml:"xmlns,attr"`
	Vmext       string   `xml:"xmlns:vmext,attr"`
	Name        string   `xml:"name,attr"`
	Description string   `xml:"Description,omitempty"`
	Namespace   string   `xml:"vmext:Namespace"`
	Enabled     bool     `xml:"vmext:Enabled"`
	RoutingKey  string   `xml:"vmext:RoutingKey"`
	Exchange    string   `xml:"vmext:Exchange"`
}

// serviceIn is the same document as VCD returns it, read by local names.
type serviceIn struct {
	HREF       string `xml:"href,attr"`
	Name       string `xml:"name,attr"`
	Namespace  string `xml:"Namespace"`
	Enabled    bool   `xml:"Enabled"`
	RoutingKey string `xml:"RoutingKey"`
	Exchange   string `xml:"Exchange"`
}

type apiFilterOut struct {
	XMLName    xml.Name `xml:"vmext:ApiFilter"`
	Xmlns      string   `xml:"xmlns,attr"`
	Vmext      string   `xml:"xmlns:vmext,attr"`
	URLPattern string   `xml:"vmext:UrlPattern"`
}

type apiFilterIn struct {
	URLPattern string `xml:"UrlPattern"`
}

type references struct {
	Reference []struct {
		HREF string `xml:"href,attr"`
	} `xml:"Reference"`
}

type serviceRecords struct {
	Records []struct {
		HREF      string `xml:"href,attr"`
		Name      string `xml:"name,attr"`
		Namespace string `xml:"namespace,attr"`
	} `xml:"AdminServiceRecord"`
}

// DeclareQueue declares on RabbitMQ, idempotently and exactly as kaasd's consumer does when
// it starts, the exchange VCD publishes to, the durable queue kaasd reads and their binding,
// from cfg's KAAS_AMQP_* settings. Run at install, before VCD relays anything, it makes a
// call VCD relays while no kaasd consumes (before the first start, or during a restart) wait
// in the queue instead of being dropped as unroutable. Waiting messages are left alone.
func DeclareQueue(ctx context.Context, cfg Config) (vcdext.Topology, error) {
	t, err := vcdext.Declare(ctx, cfg.amqpConfig())
	if err != nil {
		return t, fmt.Errorf("declare the AMQP queue: %w", err)
	}
	return t, nil
}

// Install registers the extension with VCD, or brings an existing registration of the same
// name and namespace up to date (exchange, routing key, enabled, filters). Running it again
// changes nothing: it is safe in every deployment's start script.
func Install(ctx context.Context, cfg vcd.Config, ext Extension) (Installed, error) {
	vc, err := vcd.Login(ctx, cfg)
	if err != nil {
		return Installed{}, err
	}
	c := &vc.Client
	api := strings.TrimSuffix(vc.Client.VCDHREF.String(), "/")
	want := serviceOut{Xmlns: nsVCloud, Vmext: nsExtension, Name: ext.Name, Description: ext.Description, Namespace: ext.Namespace,
		Enabled: true, RoutingKey: ext.RoutingKey, Exchange: ext.Exchange}

	found, err := findServices(c, api, ext.Name)
	if err != nil {
		return Installed{}, fmt.Errorf("find extension %q: %w", ext.Name, err)
	}
	var res Installed
	for _, r := range found.Records {
		if r.Name == ext.Name && (r.Namespace == "" || r.Namespace == ext.Namespace) {
			res.HREF = r.HREF
		}
	}
	if res.HREF == "" {
		var created serviceIn
		if _, err := c.ExecuteRequest(api+extensionRoot, http.MethodPost, mimeService, "register the extension: %s", want, &created); err != nil {
			return res, fmt.Errorf("register extension %q: %w", ext.Name, err)
		}
		res.HREF, res.Created = created.HREF, true
	} else {
		var cur serviceIn
		if _, err := c.ExecuteRequest(res.HREF, http.MethodGet, "", "read the extension: %s", nil, &cur); err != nil {
			return res, fmt.Errorf("read extension %q: %w", ext.Name, err)
		}
		if cur.Exchange != ext.Exchange || cur.RoutingKey != ext.RoutingKey || !cur.Enabled || cur.Namespace != ext.Namespace {
			if _, err := c.ExecuteRequest(res.HREF, http.MethodPut, mimeService, "update the extension: %s", want, &cur); err != nil {
				return res, fmt.Errorf("update extension %q: %w", ext.Name, err)
			}
			res.Updated = true
		}
	}
	if res.HREF == "" {
		return res, fmt.Errorf("VCD registered extension %q but returned no href", ext.Name)
	}

	present, err := filters(c, res.HREF)
	if err != nil {
		return res, err
	}
	for _, f := range ext.Filters {
		if slices.Contains(present, f) {
			res.FiltersPresent = append(res.FiltersPresent, f)
			continue
		}
		body := apiFilterOut{Xmlns: nsVCloud, Vmext: nsExtension, URLPattern: f}
		if _, err := c.ExecuteRequest(res.HREF+"/apifilters", http.MethodPost, mimeAPIFilter, "add an API filter: %s", body, &apiFilterIn{}); err != nil {
			return res, fmt.Errorf("add API filter %q: %w", f, err)
		}
		res.FiltersAdded = append(res.FiltersAdded, f)
	}
	return res, nil
}

// InstallRDE registers in VCD what CSE's installer registers (see package rde): the
// interfaces, the cse:nativeCluster entity types and the System org's access to them, as
// CSE registers them at the API version VCD offers (rde.APIVersion), and publishes the
// rights bundle VCD makes for them to the tenant orgs publish names ("all", "none" or org
// names). Running it again changes nothing.
func InstallRDE(ctx context.Context, cfg vcd.Config, publish string) (rde.Report, error) {
	p, err := rde.ParsePublish(publish)
	if err != nil {
		return rde.Report{}, err
	}
	vc, err := vcd.Login(ctx, cfg)
	if err != nil {
		return rde.Report{}, err
	}
	api, err := vcdAPIVersion(ctx, vc)
	if err != nil {
		return rde.Report{}, err
	}
	r, err := rde.Register(ctx, vc, rde.Config{Publish: p, APIVersion: api})
	if err != nil {
		return r, fmt.Errorf("register CSE's entity types: %w", err)
	}
	return r, nil
}

func filters(c *govcd.Client, serviceHREF string) ([]string, error) {
	var refs references
	if _, err := c.ExecuteRequest(serviceHREF+"/apifilters", http.MethodGet, "", "list API filters: %s", nil, &refs); err != nil {
		return nil, fmt.Errorf("list API filters: %w", err)
	}
	var out []string
	for _, r := range refs.Reference {
		var f apiFilterIn
		if _, err := c.ExecuteRequest(r.HREF, http.MethodGet, "", "read an API filter: %s", nil, &f); err != nil {
			return nil, fmt.Errorf("read API filter: %w", err)
		}
		out = append(out, f.URLPattern)
	}
	return out, nil
}

// findServices queries VCD's registered extension services by name. govcd has no query
// type for them, and its request helpers replace a URL's query string, so the request is
// built with govcd's NewRequest (which signs it) and sent here.
func findServices(c *govcd.Client, api, name string) (serviceRecords, error) {
	var out serviceRecords
	u, err := url.Parse(api + "/query")
	if err != nil {
		return out, err
	}
	req := c.NewRequest(map[string]string{"type": extensionQuery, "format": "records", "filter": "name==" + name}, http.MethodGet, *u, nil)
	resp, err := c.Http.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("VCD answered %s: %.300s", resp.Status, body)
	}
	return out, xml.Unmarshal(body, &out)
}

// vcdAPIVersion is the API version CSE would run at on VCD: 36.0, or 35.0 on a VCD 10.2.
func vcdAPIVersion(ctx context.Context, vc *govcd.VCDClient) (string, error) {
	listed, err := rde.VCDVersions(ctx, vc)
	if err != nil {
		return "", err
	}
	return rde.APIVersion(listed)
}

// LearnAPIVersion returns the API version CSE would run at on VCD (see rde.APIVersion).
// VCD lists its versions to anyone: no session is made for it.
func LearnAPIVersion(ctx context.Context, cfg vcd.Config) (string, error) {
	vc, err := vcd.Anonymous(cfg)
	if err != nil {
		return "", err
	}
	return vcdAPIVersion(ctx, vc)
}
