package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// readyAim is the goal for one create: a ready cluster within 1.5 times the floor, the
// shortest chain of VCD tasks and boots that can make one.
const readyAim = 1.5

// readyProfile is where -provision-cpuprofile writes the CPU profile of the timed create.
var readyProfile = flag.String("provision-cpuprofile", "", "write a CPU profile of the ready measurement's timed create to this file")

// readyWorkers is the workers of the cluster the ready measurement creates (bench.go's
// entity: one control plane, two workers).
const readyWorkers = 2

// Ready is the time-to-ready measurement: one create of one control plane and two workers,
// POST to CREATE:SUCCEEDED seen by the tenant, against the floor the simulator's task and
// boot times allow, with the VCD calls it cost.
type Ready struct {
	TaskDelay    string  `json:"task_delay"`
	BootDelay    string  `json:"boot_delay"`
	PollInterval string  `json:"poll_interval"`
	Seconds      float64 `json:"create_s"`
	FloorSeconds float64 `json:"floor_s"`
	// Floor is the floor's critical path, first link first.
	Floor  []FloorLink `json:"floor_chain"`
	Ratio  float64     `json:"ratio"`
	AimMet bool        `json:"aim_met"`
	// Calls is the create's VCD API calls by operation; Work the calls that start a task
	// on a vApp or VM, Polls the task reads, Reads every other read, RDE the cloudapi
	// calls (the mirror's defined entity and task), Logins the sessions opened.
	Calls  map[string]int `json:"vcd_calls"`
	Work   int            `json:"vcd_calls_work"`
	Polls  int            `json:"vcd_calls_task_polls"`
	Reads  int            `json:"vcd_calls_reads"`
	RDE    int            `json:"vcd_calls_rde"`
	Logins int            `json:"vcd_calls_logins"`
	// Tasks is the timeline of the create's VCD tasks, seconds after the POST.
	Tasks []ReadyTask `json:"tasks"`
}

// ReadyTask is one VCD task of the timed create.
type ReadyTask struct {
	What       string  `json:"what"`
	StartS     float64 `json:"start_s"`
	EndS       float64 `json:"end_s"`
	BootEndsAt float64 `json:"boot_ends_s,omitempty"` // a power-on's: when its guest's bootstrap is done
}

// FloorLink is one link of the floor's chain: what runs, how long, and when it ends.
type FloorLink struct {
	Op      string  `json:"op"`
	Seconds float64 `json:"s"`
	EndS    float64 `json:"end_s"`
}

// callClass sorts the simulator's call counters (vcdsim/api.go route): what starts a task
// on a vApp or VM, task polls, other reads, cloudapi (defined entities), logins.
func callClass(op string) string {
	switch op {
	case "compose", "recompose", "reconfigure", "metadata", "power", "delete", "upload", "capture":
		return "work"
	case "task":
		return "poll"
	case "get", "query":
		return "read"
	case "cloudapi":
		return "rde"
	case "login":
		return "login"
	}
	return "other"
}

// floorOp is one VCD operation of the fastest create: it runs for d once every op in
// after has ended and, when vapp is set, once the vApp is free (VCD runs one compose or
// recompose on a vApp at a time).
type floorOp struct {
	name  string
	d     time.Duration
	after []string
	vapp  bool
	// start and end are scheduled; by is the op whose end let it start ("" at 0).
	start, end time.Duration
	by         string
}

// createFloor is the shortest time the simulator lets a create of one control plane and
// the given workers take, and its critical path. It follows deploy/vcdsim:
//
//   - every change is a task of TaskDelay (newTask): the compose, each recompose, each
//     virtual hardware PUT (guestinfo, CPUs and memory in one), each power-on;
//   - a compose may carry the vApp's network and one VM (compose: NetworkConfigSection and
//     SourcedItem), so the vApp, its network and the control plane's VM are one task;
//   - a recompose adds one VM, and a vApp takes one compose or recompose at a time
//     (busyVApp); a VM takes one change at a time (busyVM), but VMs change in parallel;
//   - a VM is on when its power-on task ends (onAt = the task's end), and its guest reports
//     done BootDelay later (guest.boot). It reads its user data then, so that must be
//     written before the power-on, as a real guest's cloud-init reads it at first boot;
//   - a worker's user data holds the join command, which the control plane publishes only
//     when its own bootstrap is done (guest.bootstrap), and its join needs that control
//     plane initialised.
//
// Metadata, reads and the wiping of secrets from guestinfo are left out: none is needed to
// make the cluster, so the floor is what VCD itself allows, not what kaas chooses to do.
func createFloor(task, boot time.Duration, workers int) (time.Duration, []FloorLink) {
	ops := []*floorOp{
		{name: "compose vApp with network and control plane VM", d: task, vapp: true},
		{name: "write control plane user data", d: task, after: []string{"compose vApp with network and control plane VM"}},
		{name: "power on control plane", d: task, after: []string{"write control plane user data"}},
		{name: "control plane boots (kubeadm init, join command published)", d: boot, after: []string{"power on control plane"}},
	}
	for i := 1; i <= workers; i++ {
		w := fmt.Sprintf("worker %d", i)
		ops = append(ops,
			&floorOp{name: "recompose adds " + w, d: task, vapp: true, after: []string{"compose vApp with network and control plane VM"}},
			&floorOp{name: "write " + w + " user data (join command)", d: task,
				after: []string{"recompose adds " + w, "control plane boots (kubeadm init, join command published)"}},
			&floorOp{name: "power on " + w, d: task, after: []string{"write " + w + " user data (join command)"}},
			&floorOp{name: w + " boots (kubeadm join)", d: boot, after: []string{"power on " + w}})
	}
	byName := map[string]*floorOp{}
	var vappFree time.Duration
	var vappLast string
	var last *floorOp
	// ops is in an order where every op comes after what it waits for, and the vApp's
	// recomposes in the order they are asked for.
	for _, op := range ops {
		for _, a := range op.after {
			if p := byName[a]; op.by == "" || p.end > op.start {
				op.start, op.by = p.end, p.name
			}
		}
		if op.vapp && vappFree > op.start {
			op.start, op.by = vappFree, vappLast
		}
		op.end = op.start + op.d
		if op.vapp {
			vappFree, vappLast = op.end, op.name
		}
		byName[op.name] = op
		if last == nil || op.end >= last.end {
			last = op
		}
	}
	var chain []FloorLink
	for op := last; op != nil; op = byName[op.by] {
		chain = append(chain, FloorLink{Op: op.name, Seconds: op.d.Seconds(), EndS: op.end.Seconds()})
	}
	slices.Reverse(chain)
	return last.end, chain
}

// runReady measures one create against the floor. It tears down what it set up.
func runReady(ctx context.Context, url string, o provOptions, logf func(string, ...any)) (*Ready, error) {
	e, err := startProvEnv(ctx, url, o, logf)
	if e != nil {
		defer e.close(url, logf)
	}
	if err != nil {
		return nil, err
	}
	r := &Ready{TaskDelay: o.taskDelay.String(), BootDelay: o.bootDelay.String(), PollInterval: o.poll.String()}
	floor, chain := createFloor(o.taskDelay, o.bootDelay, readyWorkers)
	r.FloorSeconds, r.Floor = floor.Seconds(), chain

	// As in the provisioning measurement, the first create pays for kaasd's login and
	// lookups; it is not measured.
	logf("ready: one create to warm up")
	if _, _, err := e.createOne(ctx); err != nil {
		return nil, fmt.Errorf("warm-up create: %w", err)
	}
	if *readyProfile != "" {
		f, err := os.Create(*readyProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	before, start := e.sim.Calls(), time.Now()
	took, phase, err := e.createOne(ctx)
	if *readyProfile != "" {
		pprof.StopCPUProfile()
		logf("ready: CPU profile of the timed create written to %s", *readyProfile)
	}
	if err != nil {
		return nil, fmt.Errorf("timed create: %w", err)
	}
	if phase != "CREATE:SUCCEEDED" {
		return nil, fmt.Errorf("timed create ended %s", phase)
	}
	r.Seconds = took.Seconds()
	r.Ratio = r.Seconds / r.FloorSeconds
	r.AimMet = r.Ratio <= readyAim
	r.Calls = diffCalls(before, e.sim.Calls())
	for op, n := range r.Calls {
		switch callClass(op) {
		case "work":
			r.Work += n
		case "poll":
			r.Polls += n
		case "read":
			r.Reads += n
		case "rde":
			r.RDE += n
		case "login":
			r.Logins += n
		}
	}
	for _, t := range e.sim.Tasks(start) {
		rt := ReadyTask{What: t.Operation, StartS: t.Start.Sub(start).Seconds(), EndS: t.End.Sub(start).Seconds()}
		if t.Op == "vappDeploy" {
			rt.BootEndsAt = rt.EndS + o.bootDelay.Seconds()
		}
		r.Tasks = append(r.Tasks, rt)
	}
	logf("ready: one create took %.1fs, floor %.1fs (%.2f × floor), %d VCD calls", r.Seconds, r.FloorSeconds, r.Ratio, sum(r.Calls))
	return r, nil
}

func printReady(w io.Writer, r *Ready) error {
	fmt.Fprintf(w, "\ntime to a ready cluster: one create of 1 control plane + 2 workers; VCD tasks %s, boot %s; kaasd polls every %s\n\n",
		r.TaskDelay, r.BootDelay, r.PollInterval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "create s\tfloor s\tcreate/floor\tVCD calls\tstart work\ttask polls\tother reads\tRDE (cloudapi)\tlogins\t")
	fmt.Fprintf(tw, "%.1f\t%.1f\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Seconds, r.FloorSeconds, r.Ratio, sum(r.Calls), r.Work, r.Polls, r.Reads, r.RDE, r.Logins)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nfloor: the shortest chain of VCD tasks (%s each) and boots (%s each) that makes the cluster:\n", r.TaskDelay, r.BootDelay)
	for _, l := range r.Floor {
		fmt.Fprintf(w, "  %5.1fs  +%.1fs  %s\n", l.EndS, l.Seconds, l.Op)
	}
	fmt.Fprintln(w, "\nVCD calls of the create, by operation:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, op := range slices.Sorted(maps.Keys(r.Calls)) {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t\n", op, r.Calls[op], callClass(op))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nthe create's VCD tasks, seconds after the POST:")
	for _, t := range r.Tasks {
		boot := ""
		if t.BootEndsAt > 0 {
			boot = fmt.Sprintf(" (boot done at %.1f)", t.BootEndsAt)
		}
		fmt.Fprintf(w, "  %5.1f - %5.1f  %s%s\n", t.StartS, t.EndS, strings.TrimSpace(t.What), boot)
	}
	verdict := "NOT MET"
	if r.AimMet {
		verdict = "MET"
	}
	fmt.Fprintf(w, "\naim one create ≤ %.1f × floor: %s (%.2f)\n", readyAim, verdict, r.Ratio)
	return nil
}
