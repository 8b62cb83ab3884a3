package vcdsim

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const nsExtension = "http://www.vmware.com/vcloud/extension/v1.5"

// service is an API extension registered with the simulator, as with VCD's
// /api/admin/extension/service.
type service struct {
	ID          string
	Name        string
	Namespace   string
	Description string
	Enabled     bool
	Exchange    string
	RoutingKey  string
	Filters     []string // API filter ids
}

type apiFilter struct {
	ID      string
	Service string
	Pattern string
	re      *regexp.Regexp
}

func (s *Server) serviceHREF(svc *service) string { return s.href("admin/extension/service/" + svc.ID) }

// serviceDoc is the vmext:Service document, read by local names.
type serviceDoc struct {
	XMLName     xml.Name `xml:"Service"`
	Name        string   `xml:"name,attr"`
	Description string   `xml:"Description"`
	Namespace   string   `xml:"Namespace"`
	Enabled     bool     `xml:"Enabled"`
	RoutingKey  string   `xml:"RoutingKey"`
	Exchange    string   `xml:"Exchange"`
	Filters     []struct {
		Pattern string `xml:"UrlPattern"`
	} `xml:"ApiFilters>ApiFilter"`
}

func (s *Server) writeService(w http.ResponseWriter, status int, svc *service) {
	w.Header().Set("Content-Type", "application/vnd.vmware.admin.service+xml;version=37.0")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<vmext:Service xmlns="%s" xmlns:vmext="%s" name="%s" id="urn:vcloud:service:%s" href="%s" type="application/vnd.vmware.admin.service+xml">`+
		`<Description>%s</Description><vmext:Namespace>%s</vmext:Namespace><vmext:Enabled>%t</vmext:Enabled>`+
		`<vmext:RoutingKey>%s</vmext:RoutingKey><vmext:Exchange>%s</vmext:Exchange></vmext:Service>`,
		nsVCloud, nsExtension, xmlEscape(svc.Name), svc.ID, s.serviceHREF(svc), xmlEscape(svc.Description), xmlEscape(svc.Namespace), svc.Enabled,
		xmlEscape(svc.RoutingKey), xmlEscape(svc.Exchange))
}

func (s *Server) writeFilter(w http.ResponseWriter, status int, f *apiFilter) {
	w.Header().Set("Content-Type", "application/vnd.vmware.admin.apiFilter+xml;version=37.0")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<vmext:ApiFilter xmlns="%s" xmlns:vmext="%s" href="%s" type="application/vnd.vmware.admin.apiFilter+xml"><vmext:UrlPattern>%s</vmext:UrlPattern></vmext:ApiFilter>`,
		nsVCloud, nsExtension, s.href("admin/extension/service/apifilter/"+f.ID), xmlEscape(f.Pattern))
}

func (s *Server) addFilter(svc *service, pattern string) (*apiFilter, *vcdError) {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, errf(400, "BAD_REQUEST", "URL pattern %q is not a regular expression: %v", pattern, err)
	}
	f := &apiFilter{ID: uuid.NewString(), Service: svc.ID, Pattern: pattern, re: re}
	s.filters[f.ID] = f
	svc.Filters = append(svc.Filters, f.ID)
	return f, nil
}

// extensionRoute serves /api/admin/extension/service/… for providers.
func (s *Server) extensionRoute(w http.ResponseWriter, r *http.Request, rest []string) *vcdError {
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost:
		var in serviceDoc
		if err := readXML(r, &in); err != nil {
			return err
		}
		if in.Name == "" || in.Exchange == "" || in.RoutingKey == "" {
			return errf(400, "BAD_REQUEST", "an extension service needs a name, an exchange and a routing key")
		}
		for _, svc := range s.services {
			if svc.Name == in.Name && svc.Namespace == in.Namespace {
				return errf(400, "DUPLICATE_NAME", "An extension service named %q in namespace %q is already registered.", in.Name, in.Namespace)
			}
		}
		svc := &service{ID: uuid.NewString(), Name: in.Name, Namespace: in.Namespace, Description: in.Description, Enabled: in.Enabled,
			Exchange: in.Exchange, RoutingKey: in.RoutingKey}
		for _, f := range in.Filters {
			if _, err := s.addFilter(svc, f.Pattern); err != nil {
				return err
			}
		}
		s.services[svc.ID] = svc
		s.writeService(w, http.StatusCreated, svc)
	case len(rest) == 2 && rest[0] == "apifilter" && r.Method == http.MethodGet:
		f := s.filters[rest[1]]
		if f == nil {
			return forbidden("ApiFilter", rest[1])
		}
		s.writeFilter(w, 200, f)
	case len(rest) == 2 && rest[0] == "apifilter" && r.Method == http.MethodDelete:
		f := s.filters[rest[1]]
		if f == nil {
			return forbidden("ApiFilter", rest[1])
		}
		delete(s.filters, f.ID)
		if svc := s.services[f.Service]; svc != nil {
			svc.Filters = slices.DeleteFunc(svc.Filters, func(id string) bool { return id == f.ID })
		}
		w.WriteHeader(http.StatusNoContent)
	case len(rest) >= 1:
		svc := s.services[rest[0]]
		if svc == nil {
			return forbidden("Service", rest[0])
		}
		sub := strings.Join(rest[1:], "/")
		switch {
		case sub == "" && r.Method == http.MethodGet:
			s.writeService(w, 200, svc)
		case sub == "" && r.Method == http.MethodPut:
			var in serviceDoc
			if err := readXML(r, &in); err != nil {
				return err
			}
			svc.Namespace, svc.Description, svc.Enabled, svc.Exchange, svc.RoutingKey = in.Namespace, in.Description, in.Enabled, in.Exchange, in.RoutingKey
			s.writeService(w, 200, svc)
		case sub == "" && r.Method == http.MethodDelete:
			if svc.Enabled {
				return errf(400, "BAD_REQUEST", "disable the extension service before deleting it")
			}
			for _, id := range svc.Filters {
				delete(s.filters, id)
			}
			delete(s.services, svc.ID)
			w.WriteHeader(http.StatusNoContent)
		case sub == "apifilters" && r.Method == http.MethodGet:
			var b strings.Builder
			fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<References xmlns="%s">`, nsVCloud)
			for _, id := range svc.Filters {
				fmt.Fprintf(&b, `<Reference href="%s" type="application/vnd.vmware.admin.apiFilter+xml"/>`, s.href("admin/extension/service/apifilter/"+id))
			}
			b.WriteString(`</References>`)
			w.Header().Set("Content-Type", "application/vnd.vmware.vcloud.query.references+xml;version=37.0")
			_, _ = w.Write([]byte(b.String()))
		case sub == "apifilters" && r.Method == http.MethodPost:
			var in struct {
				Pattern string `xml:"UrlPattern"`
			}
			if err := readXML(r, &in); err != nil {
				return err
			}
			f, err := s.addFilter(svc, in.Pattern)
			if err != nil {
				return err
			}
			s.writeFilter(w, http.StatusCreated, f)
		default:
			return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
		}
	default:
		return errf(404, "RESOURCE_NOT_FOUND", "%s %s is not simulated", r.Method, r.URL.Path)
	}
	return nil
}

// forward plays VCD's API-extension role: a call to a URL an enabled extension's filter
// matches is published over AMQP in VCD's envelope, with the caller's security context,
// and the extension's reply is relayed, or a 504 after the extension timeout (or at once
// when the broker cannot take the request).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, sess *session) bool {
	s.mu.Lock()
	var svc *service
	for _, f := range s.filters {
		if sv := s.services[f.Service]; sv != nil && sv.Enabled && f.re.MatchString(r.URL.Path) {
			svc = sv
			break
		}
	}
	timeout := s.cfg.ExtensionTimeout.D()
	rights := s.rightURNs(sess)
	s.mu.Unlock()
	if svc == nil {
		return false
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<22))
	headers := map[string]string{}
	for k, v := range r.Header {
		if len(v) > 0 && !strings.EqualFold(k, "Authorization") && !strings.EqualFold(k, "X-Vmware-Vcloud-Access-Token") {
			headers[k] = v[0]
		}
	}
	headers["Host"] = r.Host
	req := extRequest{ID: uuid.NewString(), Method: r.Method, Scheme: "http", Protocol: r.Proto, RequestURI: r.URL.Path,
		Headers: headers, Body: base64.StdEncoding.EncodeToString(body), Request: true}
	if r.TLS != nil {
		req.Scheme = "https"
	}
	if r.URL.RawQuery != "" {
		q := r.URL.RawQuery
		req.QueryString = &q
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		req.LocalAddr, req.LocalPort = splitAddr(a.String())
	}
	req.RemoteAddr, req.RemotePort = splitAddr(r.RemoteAddr)
	sc := securityContext{User: sess.userID, Org: orgURN(sess.org), Rights: rights}

	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	resp, err := s.ext.do(ctx, svc.Exchange, svc.RoutingKey, req, sc)
	if err != nil {
		s.log.Warn("extension did not answer", "extension", svc.Name, "path", r.URL.Path, "err", err)
		writeError(w, errf(http.StatusGatewayTimeout, "GATEWAY_TIMEOUT", "External service '%s' failed to respond in the specified timeout (%s).", svc.Name, timeout))
		return true
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return true
}

// splitAddr is an address's host and port, "" and 0 when it has none.
func splitAddr(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}
