package container

import (
	"errors"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// healthOpts are run/create's --health-* flags.
type healthOpts struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

func (h *healthOpts) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&h.cmd, "health-cmd", "", "Command to run to check health")
	fs.DurationVar(&h.interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fs.DurationVar(&h.timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.DurationVar(&h.startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fs.DurationVar(&h.startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fs.IntVar(&h.retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fs.BoolVar(&h.none, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// config builds Config.Healthcheck as the docker CLI does: nil when no
// flag is set (the image's HEALTHCHECK applies), NONE for --no-healthcheck.
func (h *healthOpts) config() (*container.HealthConfig, error) {
	set := h.cmd != "" || h.interval != 0 || h.timeout != 0 || h.startPeriod != 0 || h.startInterval != 0 || h.retries != 0
	if h.none {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	for _, d := range []struct {
		v    time.Duration
		name string
	}{{h.interval, "--health-interval"}, {h.timeout, "--health-timeout"}, {h.startPeriod, "--health-start-period"}, {h.startInterval, "--health-start-interval"}} {
		if d.v < 0 {
			return nil, errors.New(d.name + " cannot be negative")
		}
	}
	if h.retries < 0 {
		return nil, errors.New("--health-retries cannot be negative")
	}
	hc := &container.HealthConfig{Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod,
		StartInterval: h.startInterval, Retries: h.retries}
	if h.cmd != "" {
		hc.Test = []string{"CMD-SHELL", h.cmd}
	}
	return hc, nil
}
