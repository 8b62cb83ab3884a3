package vcd

import (
	"context"
	"errors"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/executors"
)

// errTemplatesPending is replaced by the template build's implementation (issue 12, in
// progress).
var errTemplatesPending = executors.Terminal(events.CodeInternal, "template builds are not implemented yet", "", "")

var _ = errors.New

func (c *Client) EnsureImage(context.Context, executors.ImageSpec) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}

func (c *Client) PowerOff(context.Context, executors.VMRef) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}

func (c *Client) CaptureVApp(context.Context, executors.CaptureSpec) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}

func (c *Client) SetTemplateMetadata(context.Context, string, events.TemplateRef, map[string]string) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}

func (c *Client) DeleteTemplate(context.Context, string, events.TemplateRef) (executors.Status, error) {
	return executors.Status{}, errTemplatesPending
}
