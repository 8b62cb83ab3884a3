package vcd

import (
	"context"

	"github.com/kaasproject/kaas/executors"
)

// DeleteCatalogItem implements executors.VCD (issue 12: the sweep of what a failed build or
// import left; to be implemented with the other template calls).
func (c *Client) DeleteCatalogItem(context.Context, executors.ItemRef) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}
