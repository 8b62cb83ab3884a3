package kaasdtest

import "github.com/kaasproject/kaas/internal/waittest"

// Eventually is waittest.Eventually, for the tests of kaasd and kaasctl.
var Eventually = waittest.Eventually
