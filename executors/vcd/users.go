package vcd

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/kaasproject/kaas/events"
)

// userRecords is a page of VCD's adminUser query. govcd's query results have no user
// records, so kaas reads the page itself, on govcd's session.
type userRecords struct {
	Total   float64      `xml:"total,attr"`
	Records []userRecord `xml:"AdminUserRecord"`
}

// userRecord is one user: href ends in the user's UUID (id, when VCD gives it, is its URN);
// org is its org's href, and orgName its name (kaas reads either).
type userRecord struct {
	HREF    string `xml:"href,attr"`
	ID      string `xml:"id,attr"`
	Name    string `xml:"name,attr"`
	Org     string `xml:"org,attr"`
	OrgName string `xml:"orgName,attr"`
}

// users reads every org's users, the System org's included: an adminUser query, which
// needs the provider account kaas runs as, paged. An org named only by name is found in
// the org list.
func (c *Client) users(ctx context.Context) ([]events.User, error) {
	orgs := map[string]string{} // by lower-case name: URN
	list, err := call(ctx, c, func(vc *govcd.VCDClient) (*types.OrgList, error) { return vc.GetOrgList() })
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	for _, o := range list.Org {
		if o != nil {
			orgs[strings.ToLower(o.Name)] = "urn:vcloud:org:" + lastSegment(o.HREF)
		}
	}
	out := []events.User{}
	const pageSize = 128
	for page := 1; ; page++ {
		res, err := call(ctx, c, func(vc *govcd.VCDClient) (userRecords, error) { return queryUsers(ctx, vc, page, pageSize) })
		if err != nil {
			return nil, fmt.Errorf("query users, page %d: %w", page, err)
		}
		for _, r := range res.Records {
			id := "urn:vcloud:user:" + lastSegment(r.HREF)
			if strings.HasPrefix(r.ID, "urn:vcloud:user:") {
				id = r.ID
			}
			if id == "urn:vcloud:user:" || r.Name == "" {
				continue
			}
			u := events.User{ID: id, Name: r.Name, OrgID: orgs[strings.ToLower(r.OrgName)]}
			if r.Org != "" {
				u.OrgID = "urn:vcloud:org:" + lastSegment(r.Org)
			}
			out = append(out, u)
		}
		if len(res.Records) < pageSize || page*pageSize >= int(res.Total) {
			return out, nil
		}
	}
}

// queryUsers GETs one page of the adminUser query as govcd GETs queries: its session, its
// API version, VCD's error body read on failure (as "API Error: <status>: <message>", as
// govcd words it, so that a 401 logs in again).
func queryUsers(ctx context.Context, vc *govcd.VCDClient, page, pageSize int) (userRecords, error) {
	u := vc.Client.VCDHREF
	u.Path += "/query"
	req := vc.Client.NewRequestWitNotEncodedParamsWithApiVersion(nil, map[string]string{"type": "adminUser", "format": "records",
		"page": strconv.Itoa(page), "pageSize": strconv.Itoa(pageSize)}, http.MethodGet, u, nil, vc.Client.APIVersion)
	req = req.WithContext(ctx)
	resp, err := vc.Client.Http.Do(req)
	if err != nil {
		return userRecords{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return userRecords{}, err
	}
	if resp.StatusCode/100 != 2 {
		var e types.Error
		msg := strings.TrimSpace(string(body))
		if xml.Unmarshal(body, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return userRecords{}, fmt.Errorf("API Error: %d: %s", resp.StatusCode, msg)
	}
	var out userRecords
	if err := xml.Unmarshal(body, &out); err != nil {
		return userRecords{}, fmt.Errorf("read user records: %w", err)
	}
	return out, nil
}
