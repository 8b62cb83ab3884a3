package rde_test

import (
	"slices"
	"testing"

	"github.com/kaasproject/kaas/deploy/rde"
)

func TestParsePublish(t *testing.T) {
	for _, tt := range []struct {
		in      string
		all     bool
		orgs    []string
		str     string
		wantErr bool
	}{
		{in: "", str: "none"},
		{in: "none", str: "none"},
		{in: " ALL ", all: true, str: "all"},
		{in: "acme", orgs: []string{"acme"}, str: "acme"},
		{in: "acme, beta", orgs: []string{"acme", "beta"}, str: "acme,beta"},
		{in: "acme,,beta", wantErr: true},
		{in: "acme,all", wantErr: true},
		{in: "system", wantErr: true},
	} {
		p, err := rde.ParsePublish(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePublish(%q) error %v, want error %t", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if p.All != tt.all || !slices.Equal(p.Orgs, tt.orgs) || p.String() != tt.str {
			t.Errorf("ParsePublish(%q) = %+v (%s), want all=%t orgs=%v (%s)", tt.in, p, p, tt.all, tt.orgs, tt.str)
		}
	}
}
