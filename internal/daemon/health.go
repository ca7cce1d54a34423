package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Docker's healthcheck defaults and limits.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultProbeRetries  = 3
	maxHealthLog         = 5
	maxProbeOutput       = 4096
)

// healthProbe returns the probe argv of a healthcheck config, or nil when
// there is none (no HEALTHCHECK, or NONE).
func healthProbe(hc *container.HealthConfig) []string {
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		if len(hc.Test) > 1 {
			return hc.Test[1:]
		}
	case "CMD-SHELL":
		if len(hc.Test) > 1 {
			return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
		}
	}
	return nil // "NONE", or malformed
}

// startHealth begins probing a container that has just started; the loop
// ends when the container stops (stop closes). c.mu is held.
func (d *Daemon) startHealth(c *Container) {
	probe := healthProbe(c.Config.Healthcheck)
	if probe == nil {
		c.State.Health = nil
		return
	}
	c.State.Health = &container.Health{Status: container.Starting}
	stop := c.exitCh
	hc := *c.Config.Healthcheck
	started := c.State.StartedAt
	go d.healthLoop(c, probe, hc, started, stop)
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func (d *Daemon) healthLoop(c *Container, probe []string, hc container.HealthConfig, started time.Time, stop <-chan struct{}) {
	interval := orDefault(hc.Interval, defaultProbeInterval)
	timeout := orDefault(hc.Timeout, defaultProbeTimeout)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	for {
		wait := interval
		if hc.StartInterval > 0 && time.Since(started) < hc.StartPeriod {
			wait = hc.StartInterval
		}
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		res := d.runProbe(c, probe, timeout)
		select {
		case <-stop:
			return // the container stopped while probing: keep the last state
		default:
		}
		d.recordHealth(c, res, retries, time.Since(started) < hc.StartPeriod)
	}
}

// recordHealth appends a probe result and moves the status like Docker:
// a success makes the container healthy; a failure outside the start
// period adds to the streak, and `retries` of them make it unhealthy.
func (d *Daemon) recordHealth(c *Container, res *container.HealthcheckResult, retries int, inStartPeriod bool) {
	c.mu.Lock()
	h := c.State.Health
	if h == nil || !c.running() {
		c.mu.Unlock()
		return
	}
	old := h.Status
	h.Log = append(h.Log, res)
	if len(h.Log) > maxHealthLog {
		h.Log = h.Log[len(h.Log)-maxHealthLog:]
	}
	switch {
	case res.ExitCode == 0:
		h.Status, h.FailingStreak = container.Healthy, 0
	case inStartPeriod && h.Status == container.Starting:
		// Failures while the app starts do not count.
	default:
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = container.Unhealthy
		}
	}
	status := h.Status
	c.saveState(d.containerDir(c.ID))
	c.mu.Unlock()
	if status != old {
		d.emit(c, events.Action("health_status: "+string(status)), nil)
	}
}

// limitedBuffer keeps the first n bytes written to it. The probe's stdout
// and stderr both write here, from two copying goroutines (the runtime
// wraps stderr, so os/exec does not serialise them): hence the lock.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.n - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runProbe runs one probe in the container like an exec, bounded by
// timeout. Errors become a failed result, as in Docker.
func (d *Daemon) runProbe(c *Container, argv []string, timeout time.Duration) *container.HealthcheckResult {
	res := &container.HealthcheckResult{Start: time.Now()}
	fail := func(code int, msg string) *container.HealthcheckResult {
		res.End, res.ExitCode, res.Output = time.Now(), code, msg
		return res
	}
	pid := c.pid()
	if pid == 0 {
		return fail(-1, "container is not running")
	}
	ctx := context.Background()
	in, err := d.specInput(c)
	if err != nil {
		return fail(-1, err.Error())
	}
	in.Rootfs = fmt.Sprintf("/proc/%d/root", pid)
	proc, err := oci.ExecProcess(ctx, in, &container.ExecCreateRequest{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fail(-1, err.Error())
	}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return fail(-1, err.Error())
	}
	scratch := filepath.Join(d.bundleDir(c.ID), "health-"+randomSuffix())
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return fail(-1, err.Error())
	}
	defer os.RemoveAll(scratch)
	out := &limitedBuffer{n: maxProbeOutput}
	p, err := rt.Exec(ctx, c.ID, runtime.ExecOpts{Process: proc, Stdout: out, Stderr: out, Dir: scratch})
	if err != nil {
		return fail(runtime.ExitCode(err), err.Error())
	}
	done := make(chan int, 1)
	go func() {
		code, _ := p.Wait()
		done <- code
	}()
	select {
	case code := <-done:
		return fail(code, out.String())
	case <-time.After(timeout):
		syscall.Kill(p.Pid(), syscall.SIGKILL)
		<-done
		return fail(-1, fmt.Sprintf("Health check exceeded timeout (%s)", timeout))
	}
}

func randomSuffix() string {
	return fmt.Sprintf("%x", time.Now().UnixNano())
}
