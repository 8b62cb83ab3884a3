package vcdsim

import (
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// A vApp's sharing, as VCD keeps it (vcd-api.md, cse-rde.md §1.5): shared with the whole
// org at one level, or with named users of the vApp's org, each at FullControl, Change or
// ReadOnly. GET …/controlAccess/ reads it, POST …/action/controlAccess/ replaces it.

const mimeControlAccess = "application/vnd.vmware.vcloud.controlAccess+xml"

// vappAccess is what a vApp is shared with.
type vappAccess struct {
	everyone string            // the org-wide level when shared with everyone, else ""
	users    map[string]string // user UUID → access level
}

var vappLevels = map[string]bool{"FullControl": true, "Change": true, "ReadOnly": true}

// controlAccessXML renders a vApp's sharing, users in the order of their names.
func (s *Server) controlAccessXML(a *vapp) *types.ControlAccessParams {
	out := &types.ControlAccessParams{Xmlns: nsVCloud}
	if a.access.everyone != "" {
		lvl := a.access.everyone
		out.IsSharedToEveryone, out.EveryoneAccessLevel = true, &lvl
		return out
	}
	for _, u := range a.vdc.org.users {
		id := strings.TrimPrefix(userURN(a.vdc.org, u.Name), "urn:vcloud:user:")
		if lvl, ok := a.access.users[id]; ok {
			if out.AccessSettings == nil {
				out.AccessSettings = &types.AccessSettingList{}
			}
			out.AccessSettings.AccessSetting = append(out.AccessSettings.AccessSetting, &types.AccessSetting{
				Subject:     &types.LocalSubject{HREF: s.userHREF(a.vdc.org, u.Name), Name: u.Name, Type: "application/vnd.vmware.admin.user+xml"},
				AccessLevel: lvl})
		}
	}
	return out
}

// shareVApp replaces a vApp's sharing. Subjects must be users of the vApp's org; a subject
// is named by its href, whose last segment is the user's UUID.
func (s *Server) shareVApp(w http.ResponseWriter, r *http.Request, a *vapp) *vcdError {
	var in types.ControlAccessParams
	if err := readXML(r, &in); err != nil {
		return err
	}
	next := vappAccess{users: map[string]string{}}
	if in.IsSharedToEveryone {
		if in.EveryoneAccessLevel == nil || !vappLevels[*in.EveryoneAccessLevel] {
			return errf(http.StatusBadRequest, "BAD_REQUEST", "EveryoneAccessLevel must be FullControl, Change or ReadOnly when the vApp is shared with everyone.")
		}
		next.everyone = *in.EveryoneAccessLevel
	} else if in.AccessSettings != nil {
		for _, set := range in.AccessSettings.AccessSetting {
			if set == nil || set.Subject == nil {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "An access setting names no subject.")
			}
			if !vappLevels[set.AccessLevel] {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "Access level %q is not FullControl, Change or ReadOnly.", set.AccessLevel)
			}
			href := strings.TrimSuffix(set.Subject.HREF, "/")
			id := href[strings.LastIndex(href, "/")+1:]
			o, u := s.userByID(id)
			if u == nil || o != a.vdc.org {
				return errf(http.StatusBadRequest, "BAD_REQUEST", "The subject %q is not a user of org %s.", set.Subject.HREF, a.vdc.org.name)
			}
			next.users[id] = set.AccessLevel
		}
	}
	a.access = next
	writeXML(w, http.StatusOK, mimeControlAccess, "", s.controlAccessXML(a))
	return nil
}

// sharing lists a vApp's sharing for the inventory: "*=Level" for everyone, else
// "user=Level" per user.
func (s *Server) sharing(a *vapp) []string {
	var out []string
	p := s.controlAccessXML(a)
	if p.IsSharedToEveryone {
		return []string{"*=" + *p.EveryoneAccessLevel}
	}
	if p.AccessSettings != nil {
		for _, set := range p.AccessSettings.AccessSetting {
			out = append(out, set.Subject.Name+"="+set.AccessLevel)
		}
	}
	return out
}
