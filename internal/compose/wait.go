package compose

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
)

// waitDependencies waits for svc's depends_on conditions.
func (s *Service) waitDependencies(ctx context.Context, p *types.Project, svc types.ServiceConfig, o UpOptions) error {
	limit := o.WaitTimeout
	if limit == 0 {
		limit = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for dep, d := range svc.DependsOn {
		if _, ok := p.Services[dep]; !ok {
			continue
		}
		if d.Condition == "" || d.Condition == types.ServiceConditionStarted {
			continue
		}
		list, err := s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelService+"="+dep, LabelOneoff+"=False")
		if err != nil {
			return err
		}
		for _, c := range list {
			if err := s.waitCondition(ctx, c, d.Condition); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("dependency failed to start: timed out waiting for container %s", name(c))
				}
				return err
			}
		}
	}
	return nil
}

// waitCondition polls the container until condition holds.
func (s *Service) waitCondition(ctx context.Context, c container.Summary, condition string) error {
	nm := name(c)
	if condition == types.ServiceConditionHealthy {
		s.event("Container", nm, "Waiting")
	}
	for {
		info, err := s.e.c.ContainerInspect(ctx, c.ID)
		if err != nil {
			return err
		}
		st := info.State
		switch condition {
		case types.ServiceConditionHealthy:
			if st.Health == nil {
				if info.Config != nil && info.Config.Healthcheck != nil && len(info.Config.Healthcheck.Test) > 0 && info.Config.Healthcheck.Test[0] != "NONE" {
					return fmt.Errorf("dependency failed to start: the engine does not report health for container %s", nm)
				}
				return fmt.Errorf("container %s has no healthcheck configured", nm)
			}
			switch st.Health.Status {
			case container.Healthy:
				s.event("Container", nm, "Healthy")
				return nil
			case container.Unhealthy:
				return fmt.Errorf("dependency failed to start: container %s is unhealthy", nm)
			}
			if !st.Running && !st.Restarting {
				return fmt.Errorf("dependency failed to start: container %s exited (%d)", nm, st.ExitCode)
			}
		case types.ServiceConditionCompletedSuccessfully:
			if !st.Running && !st.Restarting && st.Status == container.StateExited {
				if st.ExitCode != 0 {
					return fmt.Errorf("service %q didn't complete successfully: exit %d", c.Labels[LabelService], st.ExitCode)
				}
				s.event("Container", nm, "Exited")
				return nil
			}
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Wait is `up --wait`: every container of the selected services must be
// running (and healthy when it has a healthcheck); a container that exits
// or turns unhealthy fails the wait with its name.
func (s *Service) Wait(ctx context.Context, p *types.Project, services []string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	list, err := s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelOneoff+"=False")
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range services {
		want[n] = true
	}
	// A service others wait on to complete (migrations, init jobs) is
	// done when it has exited 0; it is not expected to keep running.
	jobs := map[string]bool{}
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				jobs[dep] = true
			}
		}
	}
	for _, c := range list {
		if len(want) > 0 && !want[c.Labels[LabelService]] {
			continue
		}
		if jobs[c.Labels[LabelService]] && c.State == container.StateExited && exitCodeZero(c.Status) {
			continue
		}
		if err := s.waitReady(ctx, c); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("timeout waiting for container %s", name(c))
			}
			return err
		}
	}
	return nil
}

func (s *Service) waitReady(ctx context.Context, c container.Summary) error {
	nm := name(c)
	s.event("Container", nm, "Waiting")
	// A container that exits right after start must be caught: give it a
	// moment and require it to stay up.
	stable := 0
	for {
		info, err := s.e.c.ContainerInspect(ctx, c.ID)
		if err != nil {
			return err
		}
		st := info.State
		if !st.Running && !st.Restarting {
			return fmt.Errorf("container %s exited (%d)", nm, st.ExitCode)
		}
		if st.Health != nil {
			switch st.Health.Status {
			case container.Healthy:
				s.event("Container", nm, "Healthy")
				return nil
			case container.Unhealthy:
				return fmt.Errorf("container %s is unhealthy", nm)
			}
		} else if st.Running {
			if stable++; stable >= 3 {
				s.event("Container", nm, "Healthy")
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exitCodeZero reads an "Exited (0) ..." status.
func exitCodeZero(status string) bool {
	return strings.HasPrefix(status, "Exited (0)")
}
