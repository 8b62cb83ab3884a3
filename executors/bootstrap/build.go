package bootstrap

import (
	"errors"

	"github.com/kaasproject/kaas/events"
)

// RenderBuild renders the cloud-config user data that customizes a template build's VM
// from a recipe (contract: /work/wt/prompts/contract.md; the implementation follows).
func RenderBuild(r events.Recipe) (string, error) {
	return "", errors.New("template build customization is not implemented yet")
}
