package vcdtest

import "github.com/kaasproject/kaas/internal/waittest"

// Eventually is waittest.Eventually, for the tests of a VCD implementation (VCD's tasks end
// a while after the call that started them).
var Eventually = waittest.Eventually
