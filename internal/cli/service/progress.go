package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// The wait for a service to converge renders what docker CLI 28 renders:
// a stream of progress messages ("overall progress", a bar per slot or
// node, "verify") drawn by the moby jsonmessage renderer, which redraws
// the lines in place on a terminal and prints the messages without bars,
// one a line, elsewhere.

// stateRank orders task states the way a task moves through them; the
// states after running are the ends a task can come to.
var stateRank = map[swarm.TaskState]int64{
	swarm.TaskStateNew: 1, swarm.TaskStateAllocated: 2, swarm.TaskStatePending: 3,
	swarm.TaskStateAssigned: 4, swarm.TaskStateAccepted: 5, swarm.TaskStatePreparing: 6,
	swarm.TaskStateReady: 7, swarm.TaskStateStarting: 8, swarm.TaskStateRunning: 9,
	swarm.TaskStateComplete: 10, swarm.TaskStateShutdown: 11, swarm.TaskStateFailed: 12,
	swarm.TaskStateRejected: 13,
}

const (
	rankRunning = 9
	// barsUpTo is the most tasks that get a bar each; a larger service
	// shows the overall line only.
	barsUpTo = 20
	// stateWidth pads a state's name in a bar to the longest one shown
	// ("allocated", "preparing"), so the bars line up.
	stateWidth = 9
	// errWidth keeps a task's error on one line of a narrow terminal.
	errWidth = 75
	// pollEvery is how often the service and its tasks are read.
	pollEvery = 200 * time.Millisecond
)

func ended(s swarm.TaskState) bool { return stateRank[s] > rankRunning }

// emit sends one message to the renderer.
type emit func(jsonstream.Message)

// bar is a progress line (redrawn in place on a terminal under its id).
func bar(id, action string, current, total int64) jsonstream.Message {
	return jsonstream.Message{ID: id, Status: action, Progress: &jsonstream.Progress{Current: current, Total: total, HideCounts: current != 0 || total != 0}}
}

// note is a line of its own (it ends the redrawn block on a terminal).
func note(id, text string) jsonstream.Message { return jsonstream.Message{ID: id, Status: text} }

// oneLine makes a task's error fit on a line.
func oneLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) > errWidth {
		msg = msg[:errWidth-1] + "…"
	}
	return msg
}

// taskLine is a task's bar: its error, or its state as far as running.
func taskLine(id string, t swarm.Task, total int64) (jsonstream.Message, bool) {
	if t.Status.Err != "" {
		return bar(id, oneLine(t.Status.Err), 0, 0), true
	}
	if ended(t.DesiredState) || ended(t.Status.State) {
		return jsonstream.Message{}, false
	}
	return bar(id, fmt.Sprintf("%-*s", stateWidth, t.Status.State), stateRank[t.Status.State], total), true
}

// overall is the "overall progress" line.
func overall(running, want int, rollback bool) jsonstream.Message {
	if rollback {
		return bar("overall progress", fmt.Sprintf("rolling back update: %d out of %d tasks", running, want), 0, 0)
	}
	return bar("overall progress", fmt.Sprintf("%d out of %d tasks", running, want), 0, 0)
}

// preferred reports whether t should stand for its slot (or node) rather
// than cur: the task meant to be further from its end wins (a replaced
// task's successor), then the one less far along (a start-first update's
// new task beside the old one).
func preferred(t, cur swarm.Task) bool {
	if dt, dc := stateRank[t.DesiredState], stateRank[cur.DesiredState]; dt != dc {
		return dt < dc
	}
	return stateRank[t.Status.State] < stateRank[cur.Status.State]
}

// lessAlong prefers the job task that is less far along.
func lessAlong(t, cur swarm.Task) bool {
	return stateRank[t.Status.State] < stateRank[cur.Status.State]
}

// pick chooses the task that stands for each slot or node: of the tasks
// key accepts, the one better than the others.
func pick[K comparable](tasks []swarm.Task, better func(t, cur swarm.Task) bool, key func(swarm.Task) (K, bool)) map[K]swarm.Task {
	out := map[K]swarm.Task{}
	for _, t := range tasks {
		k, ok := key(t)
		if !ok {
			continue
		}
		if cur, seen := out[k]; !seen || better(t, cur) {
			out[k] = t
		}
	}
	return out
}

// runs reports whether t is meant to run and does.
func runs(t swarm.Task) bool {
	return !ended(t.DesiredState) && t.Status.State == swarm.TaskStateRunning
}

// allRunning reports whether every task picked is running (whatever it
// is meant to do): a display that has settled stays so while it holds.
func allRunning[K comparable](picked map[K]swarm.Task) bool {
	for _, t := range picked {
		if t.Status.State != swarm.TaskStateRunning {
			return false
		}
	}
	return true
}

func known(t swarm.Task) bool {
	return stateRank[t.DesiredState] != 0 && stateRank[t.Status.State] != 0
}

// tracker follows one kind of service's tasks and reports whether they
// all run (or, for a job, have completed).
type tracker interface {
	track(out emit, s swarm.Service, tasks []swarm.Task, up map[string]bool, rollback bool) bool
}

func trackerFor(s swarm.Service) (tracker, error) {
	m := s.Spec.Mode
	switch {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		return &replicated{}, nil
	case m.Global != nil:
		return &global{}, nil
	case m.ReplicatedJob != nil && m.ReplicatedJob.TotalCompletions != nil && m.ReplicatedJob.MaxConcurrent != nil && s.JobStatus != nil:
		return &replicatedJob{total: int(*m.ReplicatedJob.TotalCompletions), concurrent: int(*m.ReplicatedJob.MaxConcurrent), iteration: s.JobStatus.JobIteration.Index}, nil
	case m.GlobalJob != nil && s.JobStatus != nil:
		return &globalJob{}, nil
	}
	return nil, errors.New("unrecognized service mode")
}

// replicated draws a bar per slot, numbered 1/N to N/N in the order the
// slots are first seen.
type replicated struct {
	started, settled bool
	bars             map[int]int // the task's slot → its bar
}

func (r *replicated) track(out emit, s swarm.Service, tasks []swarm.Task, up map[string]bool, rollback bool) bool {
	want := int(*s.Spec.Mode.Replicated.Replicas)
	if !r.started {
		r.started, r.bars = true, map[int]int{}
		out(overall(0, want, rollback))
		for i := 1; want <= barsUpTo && i <= want; i++ {
			out(bar(fmt.Sprintf("%d/%d", i, want), " ", 0, 0))
		}
	}
	bySlot := pick(tasks, preferred, func(t swarm.Task) (int, bool) {
		return t.Slot, known(t) && (t.NodeID == "" || up[t.NodeID])
	})
	r.settled = r.settled && allRunning(bySlot)
	running := 0
	for _, slot := range slices.Sorted(maps.Keys(bySlot)) {
		t := bySlot[slot]
		n, ok := r.bars[slot]
		if !ok {
			n = len(r.bars) + 1
			r.bars[slot] = n
		}
		if runs(t) {
			running++
		}
		if r.settled || want > barsUpTo || n > want {
			continue
		}
		if m, ok := taskLine(fmt.Sprintf("%d/%d", n, want), t, rankRunning); ok {
			out(m)
		}
	}
	if !r.settled {
		out(overall(running, want, rollback))
		r.settled = running == want
	}
	return running == want
}

// global draws a bar per node; the nodes are those of the first tasks
// seen (the orchestrator makes them all at once).
type global struct{ started, settled bool }

func (g *global) track(out emit, _ swarm.Service, tasks []swarm.Task, up map[string]bool, rollback bool) bool {
	byNode := pick(tasks, preferred, func(t swarm.Task) (string, bool) { return t.NodeID, known(t) })
	want := len(byNode)
	if !g.started {
		if want == 0 {
			out(bar("overall progress", "waiting for new tasks", 0, 0))
			return false
		}
		out(overall(0, want, rollback))
		g.started = true
	}
	g.settled = g.settled && allRunning(byNode)
	running := 0
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		t := byNode[node]
		if !up[node] {
			continue
		}
		if runs(t) {
			running++
		}
		if g.settled || want > barsUpTo {
			continue
		}
		if m, ok := taskLine(command.TruncID(node), t, rankRunning); ok {
			out(m)
		}
	}
	if !g.settled {
		out(overall(running, want, rollback))
		g.settled = running == want
	}
	return running == want
}

// jobTaskLine is a job task's bar, which goes on to complete.
func jobTaskLine(id string, t swarm.Task) jsonstream.Message {
	if t.Status.Err != "" {
		return bar(id, oneLine(t.Status.Err), 0, 0)
	}
	return bar(id, fmt.Sprintf("%-*s", stateWidth, t.Status.State), stateRank[t.Status.State], rankRunning+1)
}

// jobProgress is a job's "job progress" bar.
func jobProgress(done, total int) jsonstream.Message {
	w := len(strconv.Itoa(total))
	return bar("job progress", fmt.Sprintf("%*d out of %d complete", w, done, total), int64(done), int64(total))
}

// replicatedJob counts the completions of a replicated job and the
// tasks still on their way.
type replicatedJob struct {
	total, concurrent int
	iteration         uint64
	started           bool
}

func (j *replicatedJob) track(out emit, _ swarm.Service, tasks []swarm.Task, _ map[string]bool, _ bool) bool {
	if !j.started {
		j.started = true
		j.overall(out, 0, 0)
		for i := 1; j.total <= barsUpTo && i <= j.total; i++ {
			out(bar(fmt.Sprintf("%d/%d", i, j.total), " ", 0, 0))
		}
	}
	bySlot := pick(tasks, lessAlong, func(t swarm.Task) (int, bool) {
		return t.Slot, t.JobIteration != nil && t.JobIteration.Index == j.iteration && known(t)
	})
	active, done := 0, 0
	// Job slots count from 0; only those below the number of slots seen
	// are drawn.
	for slot := 0; slot < len(bySlot); slot++ {
		t := bySlot[slot]
		if j.total <= barsUpTo {
			out(jobTaskLine(fmt.Sprintf("%d/%d", slot+1, j.total), t))
		}
		switch {
		case stateRank[t.Status.State] < stateRank[swarm.TaskStateComplete]:
			active++
		case t.Status.State == swarm.TaskStateComplete:
			done++
		}
	}
	j.overall(out, active, done)
	return done == j.total
}

func (j *replicatedJob) overall(out emit, active, done int) {
	out(jobProgress(done, j.total))
	w := len(strconv.Itoa(j.concurrent))
	out(bar("active tasks", fmt.Sprintf("%*d out of %*d tasks", w, active, w, min(j.total-done, j.concurrent)), 0, 0))
}

// globalJob counts the completions of a global job on the nodes its
// first tasks went to.
type globalJob struct {
	started bool
	nodes   map[string]bool
}

func (j *globalJob) track(out emit, s swarm.Service, tasks []swarm.Task, up map[string]bool, _ bool) bool {
	iteration := s.JobStatus.JobIteration.Index
	ofJob := func(t swarm.Task) bool { return t.JobIteration != nil && t.JobIteration.Index == iteration }
	if !j.started {
		if len(tasks) == 0 && len(up) != 0 {
			out(bar("job progress", "waiting for tasks", 0, 0))
			return false
		}
		j.started, j.nodes = true, map[string]bool{}
		for _, t := range tasks {
			if ofJob(t) {
				j.nodes[t.NodeID] = true
			}
		}
		out(jobProgress(0, len(j.nodes)))
	}
	byNode := pick(tasks, lessAlong, func(t swarm.Task) (string, bool) { return t.NodeID, ofJob(t) && j.nodes[t.NodeID] })
	done := 0
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		t := byNode[node]
		if len(j.nodes) <= barsUpTo {
			out(jobTaskLine(node, t))
		}
		if t.Status.State == swarm.TaskStateComplete {
			done++
		}
	}
	out(jobProgress(done, len(j.nodes)))
	return done == len(j.nodes)
}

// WaitOnService waits until the service's tasks run as its spec asks and
// have stayed up for its update monitor period (5 s unless set), drawing
// docker's progress on out unless quiet. An interrupt stops the wait,
// not the update.
func WaitOnService(ctx context.Context, c *client.Client, ref string, quiet bool, out io.Writer) error {
	msgs := func(yield func(jsonstream.Message, error) bool) {
		// The renderer stops taking messages only on an error, which ends
		// the wait; its context stops the polling then.
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		stopped := false
		err := followService(ctx, c, ref, func(m jsonstream.Message) {
			if !stopped && !yield(m, nil) {
				stopped = true
				stop()
			}
		})
		if err != nil && !stopped {
			yield(jsonstream.Message{}, err)
		}
	}
	if quiet {
		for _, err := range msgs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	var fd uintptr
	tty := command.IsTerminal(out)
	if f, ok := out.(*os.File); ok && tty {
		fd = f.Fd()
	}
	return jsonmessage.DisplayJSONMessages(iter.Seq2[jsonstream.Message, error](msgs), out, fd, tty, nil)
}

// followService polls the service, its current tasks and the nodes until
// it has converged, sending the progress messages to out.
func followService(ctx context.Context, c *client.Client, ref string, out emit) error {
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)

	var (
		tr           tracker
		converged    bool
		convergedAt  time.Time
		rollback     bool
		rolledBack   *jsonstream.Message
		stableFor    = 5 * time.Second
		verifyHeader = func(text string) jsonstream.Message { return bar("verify", text, 0, 0) }
	)
	for {
		s, _, err := c.ServiceInspect(ctx, ref, false)
		if err != nil {
			return err
		}
		if uc := s.Spec.UpdateConfig; uc != nil && uc.Monitor != 0 {
			stableFor = uc.Monitor
		}
		if tr == nil {
			if tr, err = trackerFor(s); err != nil {
				return err
			}
		}
		if us := s.UpdateStatus; us != nil {
			switch us.State {
			case swarm.UpdateStateUpdating:
				rollback = false
			case swarm.UpdateStateCompleted:
				if !converged {
					return nil
				}
			case swarm.UpdateStatePaused:
				return fmt.Errorf("service update paused: %s", us.Message)
			case swarm.UpdateStateRollbackStarted:
				if !rollback && us.Message != "" {
					out(bar("rollback", us.Message, 0, 0))
				}
				rollback = true
			case swarm.UpdateStateRollbackPaused:
				return fmt.Errorf("service rollback paused: %s", us.Message)
			case swarm.UpdateStateRollbackCompleted:
				if !converged {
					m := note("rollback", us.Message)
					rolledBack = &m
				}
				rollback = true
			}
		}
		if converged && time.Since(convergedAt) >= stableFor {
			out(verifyHeader(fmt.Sprintf("Service %s converged", ref)))
			if rolledBack != nil {
				out(*rolledBack)
			}
			return nil
		}
		tasks, err := c.TaskList(ctx, client.Filters{"service": {s.ID}, "_up-to-date": {"true"}})
		if err != nil {
			return err
		}
		nodes, err := c.NodeList(ctx, nil)
		if err != nil {
			return err
		}
		up := map[string]bool{}
		for _, n := range nodes {
			if n.Status.State != swarm.NodeStateDown {
				up[n.ID] = true
			}
		}
		converged = tr.track(out, s, tasks, up, rollback)
		switch {
		case converged && s.JobStatus != nil:
			// A job that has completed stays so: nothing to verify.
			out(note("", "job complete"))
			return nil
		case converged:
			if convergedAt.IsZero() {
				convergedAt = time.Now()
			}
			if left := stableFor - time.Since(convergedAt); left >= 0 {
				out(verifyHeader(fmt.Sprintf("Waiting %d seconds to verify that tasks are stable...", left/time.Second+1)))
			}
		default:
			if !convergedAt.IsZero() {
				out(verifyHeader("Detected task failure"))
			}
			convergedAt = time.Time{}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		case <-interrupt:
			if !converged {
				out(note("", "Operation continuing in background."))
				out(note("", fmt.Sprintf("Use `docker service ps %s` to check progress.", ref)))
			}
			return nil
		}
	}
}
