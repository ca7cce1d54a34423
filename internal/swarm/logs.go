package swarm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Task logs keep the container's two streams apart, as dockerd's do. The
// Kubernetes API's pods/log merges them (splitting is the alpha gate
// PodLogsQuerySplitStreams, off by default), so the front end reads the
// CRI log file itself, whose lines carry their stream: the kubelet serves
// /var/log under /logs/ (through the apiserver's node proxy, so it works
// for every node of the cluster) and links each container's log at
// /var/log/containers/POD_NAMESPACE_CONTAINER-ID.log. A kubelet that does
// not serve it (enableSystemLogHandler: false, a node proxy refused) gets
// the merged pods/log, every line on stdout.

// logPoll is how often a followed log file is read for new lines.
const logPoll = 500 * time.Millisecond

// logs merges the logs of tasks' pods into one stream of lines with the
// task's attributes.
func (m *Manager) logs(ctx context.Context, kc kubernetes.Interface, ts []swarm.Task, pods map[string]*corev1.Pod, opts engine.LogsOptions) <-chan engine.SwarmLogMessage {
	out := make(chan engine.SwarmLogMessage, 64)
	var wg sync.WaitGroup
	for _, t := range ts {
		taskLog(ctx, kc, t, pods[t.ID], opts, out, &wg)
	}
	go func() { wg.Wait(); close(out) }()
	return out
}

// logPollTasks is how often a followed service's tasks are listed for
// new ones.
const logPollTasks = 2 * time.Second

// followService is `service logs -f`: the service's tasks, and until ctx
// ends those that start later (from their first line), as swarm follows a
// service's new tasks too. A pod's current run is followed once its
// container has started (and through the pod's later runs); the runs that
// ended before it was followed (history tasks) are sent whole, once.
func (m *Manager) followService(ctx context.Context, kc kubernetes.Interface, serviceID string, opts engine.LogsOptions) <-chan engine.SwarmLogMessage {
	out := make(chan engine.SwarmLogMessage, 64)
	var wg sync.WaitGroup
	seen := map[string]bool{}
	followed := map[types.UID]bool{}
	scan := func(o engine.LogsOptions) {
		all, pods, _, err := m.tasks(ctx, kc)
		if err != nil {
			return
		}
		for _, t := range all {
			p := pods[t.ID]
			if t.ServiceID != serviceID || p == nil || seen[t.ID] {
				continue
			}
			if t.ID != ID(p.UID) {
				// A run that ended while its pod was followed was sent
				// as the pod's current one.
				seen[t.ID] = true
				if !followed[p.UID] {
					taskLog(ctx, kc, t, p, o, out, &wg)
				}
				continue
			}
			if currentLogPath(p) == "" {
				continue
			}
			seen[t.ID], followed[p.UID] = true, true
			taskLog(ctx, kc, t, p, o, out, &wg)
		}
	}
	scan(opts)
	later := opts
	later.Tail = "all"
	go func() {
		defer func() { wg.Wait(); close(out) }()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(logPollTasks):
				scan(later)
			}
		}
	}()
	return out
}

// taskLog starts sending task t's log lines (of pod p) to out: the pod's
// current run, or for a history task (an earlier run of the pod, see
// TasksFromPod) that run's container, which the kubelet keeps with its log
// until the pod's next restart.
func taskLog(ctx context.Context, kc kubernetes.Interface, t swarm.Task, p *corev1.Pod, opts engine.LogsOptions, out chan<- engine.SwarmLogMessage, wg *sync.WaitGroup) {
	if p == nil || p.Spec.NodeName == "" {
		return
	}
	current := t.ID == ID(p.UID)
	path := ""
	switch {
	case current:
		path = currentLogPath(p)
	case t.Status.ContainerStatus != nil && t.Status.ContainerStatus.ContainerID != "":
		path = containerLogPath(p, t.Status.ContainerStatus.ContainerID)
		opts.Follow = false // the run is over
	default:
		return
	}
	if path == "" && !opts.Follow {
		return // no run yet (pulling, or waiting to restart)
	}
	attrs := []string{"com.docker.swarm.node.id=" + t.NodeID, "com.docker.swarm.service.id=" + t.ServiceID, "com.docker.swarm.task.id=" + t.ID}
	emit := func(lm engine.LogMessage) bool {
		if (lm.Stream == "stderr" && !opts.Stderr) || (lm.Stream != "stderr" && !opts.Stdout) {
			return true
		}
		select {
		case out <- engine.SwarmLogMessage{LogMessage: lm, Attrs: attrs}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if path == "" {
			// Followed before its container runs: from the first line
			// of the run that starts.
			if p, path = waitRun(ctx, kc, p); path == "" {
				return
			}
			opts.Tail = "all"
		}
		if err := criLog(ctx, kc, p, path, opts, emit); err == errNoCRILog {
			mergedLog(ctx, kc, p, !current, opts, emit)
		}
	}()
}

// waitRun waits until pod p runs a container (its current run's log path
// and the pod as read then), or is gone ("").
func waitRun(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod) (*corev1.Pod, string) {
	for {
		select {
		case <-ctx.Done():
			return p, ""
		case <-time.After(logLookRestart):
		}
		np, err := kc.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && np.UID != p.UID):
			return p, ""
		case err != nil:
			continue
		}
		if path := currentLogPath(np); path != "" {
			return np, path
		}
	}
}

var errNoCRILog = errors.New("the kubelet does not serve the container's log file")

// currentLogPath is the kubelet's link to the log of the pod's current
// run, under its /logs/ (the node's /var/log); "" while no container runs
// or has run since the last restart: while the kubelet waits to restart
// the task (back-off) it still names the ended container, whose log is
// its history task's.
func currentLogPath(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "task" && cs.ContainerID != "" && cs.State.Waiting == nil {
			return containerLogPath(p, cs.ContainerID)
		}
	}
	return ""
}

// containerLogPath is the kubelet's link to the log of the pod's task
// container id ("berth://ID" or ID), which it keeps as long as the
// container.
func containerLogPath(p *corev1.Pod, id string) string {
	if _, bare, ok := strings.Cut(id, "://"); ok {
		id = bare
	}
	return fmt.Sprintf("containers/%s_%s_task-%s.log", p.Name, p.Namespace, id)
}

// criLog sends the log of one run of the task container read from its
// CRI log file at path: the lines since opts.Since, the last opts.Tail of
// them, then with opts.Follow what the file gains, and the files of the
// containers the kubelet starts in the pod after this one (a task
// restarted in place, restart N logging to N.log), until the pod is gone.
// errNoCRILog means the file cannot be had (nothing was sent).
func criLog(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, path string, opts engine.LogsOptions, emit func(engine.LogMessage) bool) error {
	get := func(from int64) (body []byte, size int64, status int, err error) {
		req := kc.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", p.Spec.NodeName, "proxy", "logs", path)
		if from > 0 {
			req = req.SetHeader("Range", fmt.Sprintf("bytes=%d-", from))
		}
		res := req.Do(ctx)
		res.StatusCode(&status)
		body, err = res.Raw()
		if status == http.StatusRequestedRangeNotSatisfiable {
			return nil, from, status, nil
		}
		return body, from + int64(len(body)), status, err
	}
	body, off, status, err := get(0)
	if err != nil || status != http.StatusOK {
		return errNoCRILog
	}
	var r criReader
	lines := r.parse(body)
	if !opts.Since.IsZero() {
		i := 0
		for i < len(lines) && lines[i].Time.Before(opts.Since) {
			i++
		}
		lines = lines[i:]
	}
	if n, err := strconv.Atoi(opts.Tail); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if !emit(l) {
			return nil
		}
	}
	// send reads what the file has gained since off: whether it grew,
	// whether it is gone, and false when the client is gone.
	send := func() (grew, gone, ok bool) {
		body, next, status, err := get(off)
		switch {
		case status == http.StatusNotFound:
			return false, true, true
		case err != nil:
			return false, false, ctx.Err() == nil
		case status == http.StatusOK && off > 0:
			// A whole file where a range was asked: the kubelet rotated
			// it and it is now shorter than what was read.
			next = int64(len(body))
		}
		off = next
		for _, l := range r.parse(body) {
			if !emit(l) {
				return false, false, false
			}
		}
		return len(body) > 0, false, true
	}
	var lastLook time.Time
	for opts.Follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logPoll):
		}
		grew, gone, ok := send()
		if !ok {
			return nil
		}
		if grew || (!gone && time.Since(lastLook) < logLookRestart) {
			continue
		}
		// Nothing new, or the file is gone: has the kubelet started
		// another container in the pod? Its log is read from its start,
		// once the rest of this one's is.
		lastLook = time.Now()
		np, err := kc.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && np.UID != p.UID):
			return nil
		case err != nil:
			continue
		}
		next := currentLogPath(np)
		if next == path && gone {
			return nil // the container's file is gone, and no other
		}
		if next == "" || next == path {
			continue // still running, or waiting to restart
		}
		if !gone {
			if _, _, ok := send(); !ok {
				return nil
			}
		}
		path, off, r = next, 0, criReader{}
	}
	return nil
}

// logLookRestart is how often a followed task whose log has stopped
// growing is checked for a restarted container.
const logLookRestart = 2 * time.Second

// criReader parses CRI log lines ("TIME STREAM TAG MESSAGE", TAG P for a
// partial line continued by the next, F for the last part), keeping a
// partial line and an unfinished last line for the next chunk.
type criReader struct {
	rest    []byte
	partial map[string][]byte
}

func (r *criReader) parse(chunk []byte) []engine.LogMessage {
	data := append(r.rest, chunk...)
	var out []engine.LogMessage
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		f := bytes.SplitN(line, []byte(" "), 4)
		if len(f) < 3 {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, string(f[0]))
		if err != nil {
			continue
		}
		stream := string(f[1])
		var msg []byte
		if len(f) == 4 {
			msg = f[3]
		}
		if tag := string(f[2]); strings.HasPrefix(tag, "P") {
			if r.partial == nil {
				r.partial = map[string][]byte{}
			}
			r.partial[stream] = append(r.partial[stream], msg...)
			continue
		}
		full := append(append([]byte(nil), r.partial[stream]...), msg...)
		delete(r.partial, stream)
		out = append(out, engine.LogMessage{Stream: stream, Line: append(full, '\n'), Time: tm})
	}
	r.rest = append([]byte(nil), data...)
	return out
}

// mergedLog sends the pod's log as the Kubernetes API serves it: both
// streams merged, every line taken for stdout; with previous, the log of
// the container before the current one.
func mergedLog(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, previous bool, opts engine.LogsOptions, emit func(engine.LogMessage) bool) {
	plo := &corev1.PodLogOptions{Container: "task", Follow: opts.Follow && !previous, Previous: previous, Timestamps: true}
	if n, err := strconv.ParseInt(opts.Tail, 10, 64); err == nil && n >= 0 {
		plo.TailLines = &n
	}
	if !opts.Since.IsZero() {
		plo.SinceTime = &metav1.Time{Time: opts.Since}
	}
	rc, err := kc.CoreV1().Pods(p.Namespace).GetLogs(p.Name, plo).Stream(ctx)
	if err != nil {
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ts, line, _ := strings.Cut(sc.Text(), " ")
		tm, _ := time.Parse(time.RFC3339Nano, ts)
		if !emit(engine.LogMessage{Stream: "stdout", Line: []byte(line + "\n"), Time: tm}) {
			return
		}
	}
}
