package vcdsim_test

import "github.com/kaasproject/kaas/internal/waittest"

// eventually waits for a condition (waittest.Eventually).
var eventually = waittest.Eventually
