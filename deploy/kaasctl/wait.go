package kaasctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// changeFlags are the flags of every command that starts an operation.
type changeFlags struct {
	output  string
	wait    bool
	poll    time.Duration
	timeout time.Duration
}

func (f *changeFlags) add(cmd *cobra.Command) {
	outputFlag(cmd, &f.output)
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the operation ends, showing its progress; exit 1 unless it succeeded")
	cmd.Flags().DurationVar(&f.poll, "poll", 500*time.Millisecond, "how often --wait asks how the operation is going")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Minute, "how long --wait waits")
}

// errOperation is an operation that ended other than SUCCEEDED.
type errOperation struct{ op Operation }

func (e *errOperation) Error() string {
	s := fmt.Sprintf("%s %s", e.op.Operation, e.op.Status)
	if e.op.Phase != "" {
		s += " (" + e.op.Phase + ")"
	}
	if e.op.Error != nil {
		s += ": " + e.op.Error.String()
	}
	return s
}

// waitOperation polls an operation until it ends, showing its progress on stderr, and
// returns its last state; an error unless it SUCCEEDED.
func (a *app) waitOperation(ctx context.Context, c *Client, href string, f *changeFlags) (Reply[Operation], error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var pr progress = &lineProgress{w: a.s.Err}
	if f, ok := a.s.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		// A terminal that reports no width (some CI ptys) shows no bar: lines it is.
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			pr = newBarProgress(ctx, a.s.Err)
		}
	}
	var (
		last     Reply[Operation]
		failures int
	)
	poll := max(f.poll, 10*time.Millisecond)
	for {
		r, err := c.Operation(ctx, href)
		switch {
		case err == nil:
			failures, last = 0, r
			pr.update(r.Value)
			if r.Value.final() {
				pr.done(r.Value)
				if r.Value.Status != "SUCCEEDED" {
					return r, &errOperation{r.Value}
				}
				return r, nil
			}
		case ctx.Err() != nil:
			// reported below
		case errors.Is(err, ErrSession) || isClientError(err):
			pr.done(last.Value)
			return last, fmt.Errorf("follow operation %s: %w", href, err)
		default:
			// VCD or kaas briefly away: the operation goes on, so keep asking a while.
			if failures++; failures > 10 {
				pr.done(last.Value)
				return last, fmt.Errorf("follow operation %s: %w", href, err)
			}
		}
		select {
		case <-ctx.Done():
			pr.done(last.Value)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return last, fmt.Errorf("gave up waiting after %s: operation %s is still %s at step %q; it goes on (kaasctl cluster describe shows it)",
					f.timeout, href, last.Value.Status, last.Value.Step)
			}
			return last, fmt.Errorf("stopped waiting (%w): operation %s goes on", ctx.Err(), href)
		case <-time.After(poll):
		}
	}
}

// isClientError reports a 4xx answer: asking again will not help.
func isClientError(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500
}

// progress shows an operation's progress as it goes.
type progress interface {
	update(op Operation)
	done(op Operation)
}

// lineProgress prints one line per change of step, for logs and pipes.
type lineProgress struct {
	w    io.Writer
	last string
}

func (p *lineProgress) update(op Operation) {
	key := op.Status + "/" + op.Step + "/" + op.Retrying.String()
	if key == p.last {
		return
	}
	p.last = key
	line := fmt.Sprintf("%s %s", op.Operation, op.Status)
	if op.Step != "" {
		line += " " + op.Step
	}
	line += fmt.Sprintf(" %d%%", op.Percent)
	if op.Retrying != nil {
		line += " (retrying: " + op.Retrying.String() + ")"
	}
	fmt.Fprintln(p.w, line)
}

func (p *lineProgress) done(Operation) {}

// barProgress is a live bar on a terminal: "<operation> <step> <percent>%".
type barProgress struct {
	p   *mpb.Progress
	bar *mpb.Bar
	mu  sync.Mutex // op is read by mpb's render goroutine
	op  Operation
}

func (b *barProgress) set(op Operation) {
	b.mu.Lock()
	b.op = op
	b.mu.Unlock()
}

func newBarProgress(ctx context.Context, w io.Writer, opts ...mpb.ContainerOption) *barProgress {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150 * time.Millisecond)}, opts...)
	b := &barProgress{p: mpb.NewWithContext(ctx, opts...)}
	label := func(decor.Statistics) string {
		b.mu.Lock()
		op := b.op
		b.mu.Unlock()
		s := op.Operation
		if op.Step != "" {
			s += " " + op.Step
		}
		return s
	}
	b.bar = b.p.AddBar(100,
		// A fixed width, so that the bar does not move as steps' names change length.
		mpb.PrependDecorators(decor.Any(label, decor.WC{W: 40, C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6})),
	)
	return b
}

func (b *barProgress) update(op Operation) {
	b.set(op)
	b.bar.SetCurrent(int64(min(op.Percent, 99))) // 100 would end the bar before the operation ends
}

func (b *barProgress) done(op Operation) {
	if op.Operation != "" {
		b.set(op)
	}
	if op.Status == "SUCCEEDED" {
		b.bar.SetTotal(100, true) // at 100% whatever the last percent was
	} else {
		b.bar.Abort(false) // keep the bar where it stopped
	}
	b.p.Wait()
}

// followTask ends a command whose change answered with a task to follow ({"task_href"} or
// Location). Without --wait it says the change was accepted (accepted is a format with one
// %s, the task's href) or prints the answer; with --wait it follows the operation, then
// show (given the operation's outcome) prints what the change led to. A nil show prints
// the operation.
func (a *app) followTask(cmd *cobra.Command, c *Client, f *changeFlags, r Reply[Message], name, accepted string, show func(werr error) error) error {
	href := r.Location
	if href == "" {
		href = r.Value.TaskHref
	}
	out := cmd.OutOrStdout()
	if !f.wait || href == "" {
		if r.Value.Message == "" && (f.output == "table" || f.output == "wide") {
			_, err := fmt.Fprintf(out, accepted+"\n", dash(href))
			return err
		}
		return messageView(r, name).print(out, f.output)
	}
	op, werr := a.waitOperation(cmd.Context(), c, href, f)
	if show != nil {
		return show(werr)
	}
	if op.Raw != nil {
		if err := operationView(op).print(out, f.output); err != nil {
			return err
		}
	}
	return werr
}
