package integration

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// historyTask is a line of `service ps --no-trunc` for TestSwarmLogsHistory.
type historyTask struct{ id, name, desired, state string }

func serviceTasks(t *testing.T, dr testutil.Driver, service string) []historyTask {
	t.Helper()
	r := dr.Run(context.Background(), nil, "service", "ps", "--no-trunc", "--format", "{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}", service)
	var out []historyTask
	for _, l := range strings.Split(r.Out(), "\n") {
		if f := strings.Split(l, "|"); len(f) == 4 {
			out = append(out, historyTask{f[0], strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f[1]), `\_ `)), f[2], f[3]})
		}
	}
	return out
}

// logRun matches a line of TestSwarmLogsHistory's service in `service
// logs`: the task's prefix (name, 12 characters of its ID), the run's
// number and its own random word.
var logRun = regexp.MustCompile(`(?m)^(hist\.\d)\.([0-9a-z]{12})@\S+\s+\| (run|err)-(\d)-(\S+)$`)

// TestSwarmLogsHistory: `docker service logs` shows every task's log, as
// dockerd does: a task that exited and was restarted in its pod (restart
// policy on-failure) has its earlier run listed as a task of its own in
// `service ps` (Failed, the same slot), and that run's lines come under
// that task's prefix, the current run's under the current task's; `--tail
// N` is per task (dockerd 20.10 gives each task of the service, failed
// ones included, its last N lines); `service logs TASK` is that task's run
// only; `-f` sends the earlier runs too. A service update replaces the
// tasks: while the replaced ones still exist (their stop grace period)
// their lines come under their own prefixes beside the new tasks'.
func TestSwarmLogsHistory(t *testing.T) {
	if testutil.KubeBinDir() == "" {
		t.Skip("Kubernetes binaries not built: run make kube")
	}
	testutil.KubeLock(t)
	_, dr := swarmDaemon(t)
	ctx := context.Background()
	importBusybox(t, dr)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, dr, "swarm", "init"); r.Code != 0 {
		t.Fatalf("swarm init: %s", r)
	}
	// The first run of each task writes its lines and fails; the second
	// (the volume is the pod's, so it survives the restart) stays up and
	// outlives a stop request for the grace period.
	script := `n=$(($(cat /data/n 2>/dev/null || echo 0)+1)); echo $n >/data/n; w=$(cat /proc/sys/kernel/random/uuid)
echo run-$n-$w; echo err-$n-$w >&2; [ $n -ge 2 ] || { sleep 1; exit 3; }; exec sleep 600`
	if r := dr.Run(ctx, nil, "service", "create", "-d", "--name", "hist", "--replicas", "2", "--restart-condition", "on-failure",
		"--stop-grace-period", "90s", "--mount", "type=volume,dst=/data", "busybox:latest", "sh", "-c", script); r.Code != 0 {
		t.Fatalf("service create: %s", r)
	}
	// Each slot: a failed run, then the running one.
	var tasks []historyTask
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		tasks = serviceTasks(t, dr, "hist")
		failed, running := 0, 0
		for _, tk := range tasks {
			if strings.HasPrefix(tk.state, "Failed") {
				failed++
			}
			if tk.desired == "Running" && strings.HasPrefix(tk.state, "Running") {
				running++
			}
		}
		if len(tasks) == 4 && failed == 2 && running == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tasks never ran twice: %+v\n%s", tasks, dr.Run(ctx, nil, "service", "ps", "--no-trunc", "hist"))
		}
	}
	byID := map[string]historyTask{}
	for _, tk := range tasks {
		if _, dup := byID[tk.id[:12]]; dup {
			t.Fatalf("two tasks show as %s: %+v", tk.id[:12], tasks)
		}
		byID[tk.id[:12]] = tk
	}
	// checkRuns wants out (stdout or stderr of service logs, kind run or
	// err) to hold one line of each task, under the task's own prefix:
	// run 1 for a failed task, run 2 for a running one. It returns the
	// words of the runs by task.
	checkRuns := func(what, out, kind string, want map[string]historyTask) map[string]string {
		t.Helper()
		words := map[string]string{}
		for _, m := range logRun.FindAllStringSubmatch(out, -1) {
			tk, ok := want[m[2]]
			switch {
			case !ok:
				t.Errorf("%s: a line of no task of the service's: %q", what, m[0])
			case m[3] != kind:
				t.Errorf("%s: a line of the other stream: %q", what, m[0])
			case m[1] != tk.name:
				t.Errorf("%s: task %s (%s) under name %s", what, m[2], tk.name, m[1])
			case strings.HasPrefix(tk.state, "Failed") != (m[4] == "1"):
				t.Errorf("%s: task %s (%s) shows run %s: %q", what, m[2], tk.state, m[4], m[0])
			case words[m[2]] != "":
				t.Errorf("%s: task %s has two lines: %q", what, m[2], out)
			}
			words[m[2]] = m[5]
		}
		if len(words) != len(want) {
			t.Errorf("%s: lines of %d tasks, want %d:\n%s", what, len(words), len(want), out)
		}
		return words
	}
	r := dr.Run(ctx, nil, "service", "logs", "hist")
	if r.Code != 0 {
		t.Fatalf("service logs: %s", r)
	}
	words := checkRuns("service logs (stdout)", r.Stdout, "run", byID)
	if errWords := checkRuns("service logs (stderr)", r.Stderr, "err", byID); len(errWords) != len(words) {
		t.Errorf("stderr of %d tasks, stdout of %d", len(errWords), len(words))
	}
	// --tail 1: each task's last line (which stream the runtime logged
	// last is its business).
	if r := dr.Run(ctx, nil, "service", "logs", "--tail", "1", "hist"); r.Code != 0 || strings.Count(r.Stdout+r.Stderr, "\n") != 4 {
		t.Errorf("service logs --tail 1: one line per task wanted: %s", r)
	} else {
		seen := map[string]bool{}
		for _, m := range logRun.FindAllStringSubmatch(r.Stdout+"\n"+r.Stderr, -1) {
			seen[m[2]] = true
		}
		if len(seen) != 4 {
			t.Errorf("service logs --tail 1: lines of %d tasks: %s", len(seen), r)
		}
	}
	// A task's own log is its run only.
	outAt := map[string]time.Time{} // each task's stdout line
	var lastFailed time.Time        // the last line of a failed run
	for id12, tk := range byID {
		// The CLI writes the time before the prefix.
		r := dr.Run(ctx, nil, "service", "logs", "--timestamps", tk.id)
		lines := regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\dT\S+) `+regexp.QuoteMeta(tk.name)+`\.`+id12+`@\S+\s+\| run-\d-(\S+)$`).FindAllStringSubmatch(r.Stdout, -1)
		errLine := regexp.MustCompile(`^(\S+) \S+\s+\| err-`).FindStringSubmatch(r.Stderr)
		if r.Code != 0 || len(lines) != 1 || lines[0][2] != words[id12] || strings.Count(r.Stdout, "\n") != 1 ||
			strings.Count(r.Stderr, "\n") != 1 || errLine == nil {
			t.Errorf("service logs --timestamps %s (%s, run word %s): %s", tk.id, tk.state, words[id12], r)
			continue
		}
		at, err1 := time.Parse(time.RFC3339Nano, lines[0][1])
		errAt, err2 := time.Parse(time.RFC3339Nano, errLine[1])
		if err1 != nil || err2 != nil {
			t.Errorf("service logs --timestamps %s: %v %v", tk.id, err1, err2)
		}
		outAt[id12] = at
		if strings.HasPrefix(tk.state, "Failed") {
			lastFailed = maxTime(lastFailed, at, errAt)
		}
	}
	// --since: of each task's log the lines from then on; here since
	// just after the failed runs' last line.
	since := lastFailed.Add(time.Microsecond)
	var want []string
	for id12, at := range outAt {
		if !at.Before(since) {
			want = append(want, id12)
		}
	}
	r = dr.Run(ctx, nil, "service", "logs", "--since", since.Format(time.RFC3339Nano), "hist")
	var got []string
	for _, m := range logRun.FindAllStringSubmatch(r.Stdout, -1) {
		got = append(got, m[2])
	}
	slices.Sort(want)
	slices.Sort(got)
	if r.Code != 0 || len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("service logs --since %s: lines of %v, want %v (times %v): %s", since.Format(time.RFC3339Nano), got, want, outAt, r)
	}
	// -f: the earlier runs and the current ones.
	fctx, fcancel := context.WithCancel(ctx)
	cmd := dr.Command(fctx, "service", "logs", "-f", "hist")
	var fo, fe syncBuffer
	cmd.Stdout, cmd.Stderr = &fo, &fe
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(logRun.FindAllString(fo.String(), -1)) < 4 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second) // nothing more comes
	fcancel()
	cmd.Wait()
	checkRuns("service logs -f", fo.String(), "run", byID)

	// An update replaces the tasks: the old ones stop (for up to 90 s)
	// while the new ones run; all show, each under its own prefix.
	if r := dr.Run(ctx, nil, "service", "update", "-d", "--env-add", "V=2", "hist"); r.Code != 0 {
		t.Fatalf("service update: %s", r)
	}
	var after []historyTask
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		after = serviceTasks(t, dr, "hist")
		replaced, fresh := 0, 0
		for _, tk := range after {
			if _, old := byID[tk.id[:12]]; old && tk.desired == "Shutdown" && !strings.HasPrefix(tk.state, "Failed") {
				replaced++
			}
			if _, old := byID[tk.id[:12]]; !old && tk.desired == "Running" && strings.HasPrefix(tk.state, "Running") {
				fresh++
			}
		}
		if replaced >= 1 && fresh >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replaced task beside a new one: %+v", after)
		}
	}
	r = dr.Run(ctx, nil, "service", "logs", "hist")
	t.Logf("after the update: %+v\n%s", after, r.Stdout)
	shown := map[string]string{}
	for _, m := range logRun.FindAllStringSubmatch(r.Stdout, -1) {
		shown[m[2]] = m[4] + "-" + m[5]
	}
	for _, tk := range after {
		id12 := tk.id[:12]
		_, old := byID[id12]
		switch {
		case old && tk.desired == "Shutdown" && strings.HasPrefix(tk.state, "Running"):
			// A replaced task still stopping: its own lines.
			if shown[id12] != "2-"+words[id12] {
				t.Errorf("replaced task %s (%s): %q in\n%s", id12, tk.state, shown[id12], r.Stdout)
			}
		case !old && strings.HasPrefix(tk.state, "Running"):
			if shown[id12] == "" {
				t.Errorf("new task %s (%s): %q in\n%s", id12, tk.state, shown[id12], r.Stdout)
			}
		}
	}
	if r := dr.Run(ctx, nil, "service", "rm", "hist"); r.Code != 0 {
		t.Errorf("service rm: %s", r)
	}
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
