package swarm

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCRIReader: CRI log lines keep their stream, partial lines are
// joined with the rest of their stream's line, and a line cut between two
// reads of a followed file is finished by the next read.
func TestCRIReader(t *testing.T) {
	var r criReader
	got := r.parse([]byte("2026-12-07T10:00:00.000000001Z stdout F hello\n" +
		"2026-12-07T10:00:00.000000002Z stderr F oops\n" +
		"2026-12-07T10:00:00.000000003Z stdout P par\n" +
		"2026-12-07T10:00:00.000000004Z stderr F err2\n" +
		"2026-12-07T10:00:00.000000005Z stdout F tial\n" +
		"2026-12-07T10:00:00.000000006Z stdout F \n" +
		"2026-12-07T10:00:00.000000007Z stdout F cut "))
	got = append(got, r.parse([]byte("line\n"))...)
	want := []struct{ stream, line string }{{"stdout", "hello\n"}, {"stderr", "oops\n"}, {"stderr", "err2\n"}, {"stdout", "partial\n"}, {"stdout", "\n"}, {"stdout", "cut line\n"}}
	if len(got) != len(want) {
		t.Fatalf("got %d lines: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Stream != w.stream || string(got[i].Line) != w.line {
			t.Errorf("line %d: %s %q, want %s %q", i, got[i].Stream, got[i].Line, w.stream, w.line)
		}
	}
	if want := time.Date(2026, 12, 7, 10, 0, 0, 1, time.UTC); !got[0].Time.Equal(want) {
		t.Errorf("time %v, want %v", got[0].Time, want)
	}
}

// TestCurrentLogPath: the log of a pod's current run is its running (or
// ended) container's; while the kubelet waits to restart it, the
// container it names is the ended run's (a history task's), so the pod
// has no current log.
func TestCurrentLogPath(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"}}
	ended := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, ContainerID: "berth://c1"}}
	for _, c := range []struct {
		cs   corev1.ContainerStatus
		want string
	}{
		{corev1.ContainerStatus{Name: "task", ContainerID: "berth://c2", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, LastTerminationState: ended}, "containers/web-abc_default_task-c2.log"},
		{corev1.ContainerStatus{Name: "task", ContainerID: "berth://c1", State: ended}, "containers/web-abc_default_task-c1.log"},
		{corev1.ContainerStatus{Name: "task", ContainerID: "berth://c1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: ended}, ""},
		{corev1.ContainerStatus{Name: "task", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}, ""},
	} {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{c.cs}
		if got := currentLogPath(p); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cs.State, got, c.want)
		}
	}
	if got := containerLogPath(p, "berth://c1"); got != "containers/web-abc_default_task-c1.log" {
		t.Errorf("containerLogPath %q", got)
	}
}
