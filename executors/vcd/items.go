package vcd

import (
	"context"

	"github.com/kaasproject/kaas/executors"
)

// DeleteCatalogItem implements executors.VCD: the sweep of what a failed build or import
// left (deleteOwnItem). The owner is known by the item's kaas.build.id or, before VCD
// finished it, by the mark in its description.
func (c *Client) DeleteCatalogItem(ctx context.Context, item executors.ItemRef) (executors.Status, error) {
	return c.deleteOwnItem(ctx, item.Org, item.Name, item.Owner, item.Unfinished)
}
