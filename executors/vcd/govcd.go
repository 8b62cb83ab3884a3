package vcd

import "github.com/vmware/go-vcloud-director/v2/util"

// go-vcloud-director renders every request and response it sends for its log, hiding
// passwords with regular expressions it compiles on each call, even when that log goes
// nowhere (GOVCD_LOG unset): a fifth of the CPU kaas spends talking to VCD. With its
// logging off, nothing is rendered; GOVCD_LOG and its siblings still turn it all on. util's
// own init has read them by now (a package's imports are initialised first).
func init() {
	if !util.EnableLogging {
		util.LogHttpRequest, util.LogHttpResponse = false, false
	}
}
