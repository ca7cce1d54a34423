package service

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

func task(slot int, node string, desired, state swarm.TaskState, errMsg string) swarm.Task {
	return swarm.Task{Slot: slot, NodeID: node, DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: errMsg}}
}

// render draws msgs as docker's CLI does off a terminal.
func render(t *testing.T, msgs []jsonstream.Message) string {
	t.Helper()
	var b bytes.Buffer
	seq := func(yield func(jsonstream.Message, error) bool) {
		for _, m := range msgs {
			if !yield(m, nil) {
				return
			}
		}
	}
	if err := jsonmessage.DisplayJSONMessages(seq, &b, 0, false, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReplicatedProgress(t *testing.T) {
	two := uint64(2)
	s := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
	tr, err := trackerFor(s)
	if err != nil {
		t.Fatal(err)
	}
	up := map[string]bool{"n1": true}
	var msgs []jsonstream.Message
	out := func(m jsonstream.Message) { msgs = append(msgs, m) }
	R, S := swarm.TaskStateRunning, swarm.TaskStateShutdown
	steps := []struct {
		tasks []swarm.Task
		want  bool
	}{
		// Slot 2's old task is replaced: the new one stands for the slot;
		// a task on a node that is down does not count.
		{[]swarm.Task{task(1, "n1", R, swarm.TaskStatePreparing, ""), task(2, "n1", S, R, ""), task(2, "n1", R, swarm.TaskStatePending, ""), task(3, "gone", R, R, "")}, false},
		{[]swarm.Task{task(1, "n1", R, R, ""), task(2, "n1", R, swarm.TaskStateRejected, "No such image: x")}, false},
		{[]swarm.Task{task(1, "n1", R, R, ""), task(2, "n1", R, R, "")}, true},
		{[]swarm.Task{task(1, "n1", R, R, ""), task(2, "n1", R, R, "")}, true},
	}
	for i, st := range steps {
		if got := tr.track(out, s, st.tasks, up, false); got != st.want {
			t.Errorf("step %d: converged %v", i, got)
		}
	}
	want := "overall progress: 0 out of 2 tasks\n1/2:  \n2/2:  \noverall progress: 0 out of 2 tasks\n" +
		"2/2: No such image: x\noverall progress: 1 out of 2 tasks\noverall progress: 2 out of 2 tasks\n"
	if got := render(t, msgs); got != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", got, want)
	}
	// The bars, which only a terminal shows: the state up to running.
	var bars []string
	for _, m := range msgs {
		if m.Progress != nil && m.Progress.Total != 0 {
			bars = append(bars, m.ID+" "+strings.TrimSpace(m.Status)+" "+string(rune('0'+m.Progress.Current)))
		}
	}
	if strings.Join(bars, ",") != "1/2 preparing 6,2/2 pending 3,1/2 running 9,1/2 running 9,2/2 running 9" {
		t.Errorf("bars %q", bars)
	}
}

func TestOneLine(t *testing.T) {
	long := strings.Repeat("x", 80) + "\nmore"
	if got := oneLine(long); strings.Contains(got, "\n") || len([]rune(got)) != errWidth {
		t.Errorf("oneLine: %q", got)
	}
}
