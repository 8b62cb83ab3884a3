package ingress

import (
	"slices"
	"strings"
)

// route is one path of the API with its handlers by method and the API versions it serves.
type route struct {
	name     string   // for logs and metrics
	pattern  []string // path tokens after /api; "{}" captures one segment
	methods  map[string]handler
	versions []string
	// anyVersion serves a request for any API version, as CSE serves GET system: the route
	// a client asks which versions the server speaks.
	anyVersion bool
}

// handler serves one matched request.
type handler struct {
	op string // operation name, for logs and metrics
	fn func(*call) reply
}

// dualForm are the tokens CSE matches in singular or plural.
var dualForm = map[string]string{
	"clusters": "cluster", "nativeclusters": "nativecluster", "operations": "operation", "templates": "template",
	"ovdcs": "ovdc", "orgvdcs": "orgvdc", "nodes": "node",
}

func singular(tok string) string {
	t := strings.ToLower(tok)
	if s, ok := dualForm[t]; ok {
		return s
	}
	return t
}

// match finds the route for a path, returning its captured segments. As in CSE, tokens
// match without case and in singular or plural form.
func match(routes []route, path string) (*route, []string) {
	toks := strings.Split(strings.Trim(path, "/"), "/")
	if len(toks) == 0 || toks[0] != "api" {
		return nil, nil
	}
	toks = toks[1:]
	for i := range routes {
		r := &routes[i]
		if len(r.pattern) != len(toks) {
			continue
		}
		var args []string
		ok := true
		for j, p := range r.pattern {
			if p == "{}" {
				if toks[j] == "" {
					ok = false
					break
				}
				args = append(args, toks[j])
				continue
			}
			if singular(p) != singular(toks[j]) {
				ok = false
				break
			}
		}
		if ok {
			return r, args
		}
	}
	return nil, nil
}

func (r *route) allow() string {
	var ms []string
	for m := range r.methods {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}

// negotiate picks the API version from an Accept header. CSE accepts
// application/json;version=X and its wildcards; kaas also tolerates spaces and extra
// parameters that CSE tripped over, and takes the newest version when none is named.
func negotiate(accept string, served []string) (version string, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return served[len(served)-1], true
	}
	for item := range strings.SplitSeq(accept, ",") {
		parts := strings.Split(item, ";")
		media := strings.ToLower(strings.TrimSpace(parts[0]))
		switch media {
		case "application/json", "*/*", "*", "application/*", "application/*+json":
		default:
			continue
		}
		v := ""
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "version") {
				v = strings.TrimSpace(val)
			}
		}
		if v == "" {
			return served[len(served)-1], true
		}
		if slices.Contains(served, v) {
			return v, true
		}
		return v, false
	}
	return "", false
}

// jsonAcceptable reports whether any Accept item admits JSON.
func jsonAcceptable(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for item := range strings.SplitSeq(accept, ",") {
		media, _, _ := strings.Cut(item, ";")
		switch strings.ToLower(strings.TrimSpace(media)) {
		case "application/json", "*/*", "*", "application/*", "application/*+json":
			return true
		}
	}
	return false
}
