package vcd

import (
	"reflect"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

func TestSubnets(t *testing.T) {
	n := 22
	scopes := []*types.IPScope{
		{Gateway: "10.1.0.1", Netmask: "255.255.0.0"},
		{Gateway: "192.168.7.1", SubnetPrefixLength: "24", Netmask: "255.255.0.0"}, // the prefix length wins
		{Gateway: "172.16.5.9", SubnetPrefixLengthInt: &n},
		{Gateway: "fd00:1::1", SubnetPrefixLength: "64"},
		{Gateway: "10.9.0.1", Netmask: "255.0.255.0"}, // not a netmask
		{Gateway: "not an address", Netmask: "255.255.255.0"},
		{Gateway: "10.8.0.1"}, // no length at all
		{Gateway: "10.7.0.1", SubnetPrefixLength: "33"},
		nil,
	}
	got := subnets(&types.NetworkConfiguration{IPScopes: &types.IPScopes{IPScope: scopes}})
	want := []string{"10.1.0.0/16", "192.168.7.0/24", "172.16.4.0/22", "fd00:1::/64"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("subnets %v, want %v", got, want)
	}
	if subnets(nil) != nil || subnets(&types.NetworkConfiguration{}) != nil {
		t.Fatal("a network without IP scopes has subnets")
	}
	for mask, want := range map[string]int{"255.255.255.255": 32, "0.0.0.0": 0, "255.255.252.0": 22, "255.255.0.255": -1, "ffff::": -1, "x": -1} {
		if got := maskBits(mask); got != want {
			t.Errorf("maskBits(%s) = %d, want %d", mask, got, want)
		}
	}
}
