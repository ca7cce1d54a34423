package swarm

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// UpdateMonitor carries out update_config.failure_action rollback: a
// Deployment has no automatic rollback, so the front end watches the
// services it updated and, when an update's rollout passes its progress
// deadline (monitor + delay + 1 s) without finishing, re-applies the
// previous spec as swarm's updater does. A failed rollback is never rolled
// back again: it shows as rollback_paused.
type UpdateMonitor struct {
	m     *Manager
	log   *slog.Logger
	every time.Duration
}

// NewUpdateMonitor watches m's services.
func NewUpdateMonitor(m *Manager, log *slog.Logger) *UpdateMonitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UpdateMonitor{m: m, log: log, every: 2 * time.Second}
}

// Run checks the services until ctx ends.
func (u *UpdateMonitor) Run(ctx context.Context) {
	for {
		if i := u.m.SwarmInfo(ctx); i.LocalNodeState == swarm.LocalNodeStateActive && i.ControlAvailable && u.m.RunsControlPlane() {
			if kc, err := u.m.client(); err == nil {
				u.check(ctx, kc)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(u.every):
		}
	}
}

// check rolls back every service whose update failed.
func (u *UpdateMonitor) check(ctx context.Context, kc kubernetes.Interface) {
	all, err := u.m.services(ctx, kc)
	if err != nil {
		u.log.Debug("update monitor", "err", err)
		return
	}
	for _, s := range all {
		d := s.w.Deployment
		if d == nil || d.Status.ObservedGeneration < d.Generation {
			continue
		}
		var us swarm.UpdateStatus
		if json.Unmarshal([]byte(d.Annotations[AnnotationState]), &us) != nil {
			continue
		}
		if us.State != swarm.UpdateStateUpdating && us.State != swarm.UpdateStateRollbackStarted {
			continue
		}
		spec := s.spec()
		if RolloutSettled(d, spec, us.State, time.Now()) {
			// Recorded once, so a later outage of the service's tasks is
			// never taken for a failure of this update.
			u.finish(ctx, kc, &d.ObjectMeta, us)
			continue
		}
		if us.State != swarm.UpdateStateUpdating || failureAction(spec) != swarm.UpdateFailureActionRollback || rolloutTimedOut(d, &us) == nil {
			continue
		}
		msg := "update rolled back due to failure or early termination of task"
		if task := u.failedTask(ctx, kc, s); task != "" {
			msg += " " + task
		}
		if _, err := u.m.rollback(ctx, kc, s, msg); err != nil {
			u.log.Warn("automatic rollback failed", "service", spec.Name, "err", err)
			continue
		}
		u.log.Info("update failed: rolled back", "service", spec.Name)
	}
}

// finish records a finished update or rollback in the Deployment's
// annotation (metadata only: the rollout is not touched).
func (u *UpdateMonitor) finish(ctx context.Context, kc kubernetes.Interface, d *metav1.ObjectMeta, us swarm.UpdateStatus) {
	ns, name, resourceVersion := d.Namespace, d.Name, d.ResourceVersion
	writes, _ := strconv.Atoi(d.Annotations[AnnotationStatusWrites])
	now := time.Now().UTC()
	us.CompletedAt = &now
	if us.State == swarm.UpdateStateUpdating {
		us.State, us.Message = swarm.UpdateStateCompleted, "update completed"
	} else {
		us.State, us.Message = swarm.UpdateStateRollbackCompleted, "rollback completed"
	}
	b, _ := json.Marshal(us)
	// The resource version makes the patch fail if the service was updated
	// since it was read: a new update's status is never overwritten.
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "annotations": map[string]string{AnnotationState: string(b),
		AnnotationStatusWrites: strconv.Itoa(writes + 1)}}})
	if _, err := kc.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		u.log.Debug("update monitor: record the end of an update", "deployment", ns+"/"+name, "err", err)
	}
}

// failedTask names a task of the failed revision that is not ready (the
// ID of its pod), for the rollback's message.
func (u *UpdateMonitor) failedTask(ctx context.Context, kc kubernetes.Interface, s service) string {
	meta := s.w.Meta()
	rev := u.m.currentRevision(ctx, kc, s.w)
	if rev == "" {
		return ""
	}
	pods, err := kc.CoreV1().Pods(meta.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelService + "=" + meta.Labels[LabelService] + ",pod-template-hash=" + rev})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return ID(p.UID)
		}
	}
	return ""
}
