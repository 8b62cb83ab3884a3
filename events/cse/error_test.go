package cse_test

import (
	"encoding/json"
	"testing"

	"github.com/kaasproject/kaas/events/cse"
)

// CSE's error body has the keys CSE's client reads, and only minor codes its MinorErrorCode
// enum defines (it raises on any other).
func TestNewError(t *testing.T) {
	for _, tt := range []struct {
		minor, want int
	}{
		{cse.MinorDefault, -1}, {cse.MinorClusterNameMissing, 4000}, {cse.MinorOvdcNameInvalid, 4021}, {4029, 4029},
		{4030, -1}, {3999, -1}, {0, -1}, {500, -1},
	} {
		b, err := json.Marshal(cse.NewError(tt.minor, "why"))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Message map[string]any `json:"message"`
		}
		if err := json.Unmarshal(b, &got); err != nil || len(got.Message) != 2 ||
			got.Message["minor error code"] != float64(tt.want) || got.Message["error description"] != "why" {
			t.Errorf("NewError(%d) = %s, want minor error code %d", tt.minor, b, tt.want)
		}
	}
}
