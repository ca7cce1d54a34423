package service

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// specFlags are the service spec flags create and update share (update
// applies only those given).
type specFlags struct {
	replicas                          uint64
	mode                              string
	workdir, user, hostname           string
	entrypoint                        string
	limitCPU, reserveCPU              string
	limitMemory, reserveMemory        string
	stopGrace                         time.Duration
	stopSignal                        string
	tty, readOnly                     bool
	restartCondition                  string
	restartDelay, restartWindow       time.Duration
	restartMaxAttempts                uint64
	updateParallelism                 uint64
	updateDelay, updateMonitor        time.Duration
	updateFailureAction, updateOrder  string
	rollbackParallelism               uint64
	rollbackDelay, rollbackMonitor    time.Duration
	rollbackFailureAction, rollbackOr string
	endpointMode                      string
	maxReplicas                       uint64
	health                            healthFlags
	log                               logFlags
	detach, quiet                     bool
}

// newSpecCmd is `service create` or `update` with the flags they share;
// run gets the daemon's client.
func newSpecCmd(e *command.Env, o *specFlags, use, short string, args cobra.PositionalArgs,
	run func(context.Context, *client.Client, *pflag.FlagSet, []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return run(cmd.Context(), c, cmd.Flags(), args)
		}),
	}
	fs := cmd.Flags()
	addSpecFlags(fs, o)
	fs.BoolVarP(&o.detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output")
	fs.Bool("with-registry-auth", false, "Send registry authentication details to swarm agents")
	fs.Bool("no-resolve-image", false, "Do not query the registry to resolve image digest and supported platforms")
	return cmd
}

// done ends a create or update as docker does: the daemon's warnings on
// stderr, the service's ID or name on stdout, then the wait for it to
// converge unless detached.
func (o *specFlags) done(ctx context.Context, c *client.Client, printed, id string, warnings []string, out, errOut io.Writer) error {
	for _, w := range warnings {
		fmt.Fprintln(errOut, w)
	}
	fmt.Fprintln(out, printed)
	if o.detach {
		return nil
	}
	return WaitOnService(ctx, c, id, o.quiet, out)
}

func addSpecFlags(fs *pflag.FlagSet, o *specFlags) {
	fs.Uint64Var(&o.replicas, "replicas", 0, "Number of tasks")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&o.hostname, "hostname", "", "Container hostname")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&o.limitCPU, "limit-cpu", "", "Limit CPUs")
	fs.StringVar(&o.limitMemory, "limit-memory", "", "Limit Memory")
	fs.StringVar(&o.reserveCPU, "reserve-cpu", "", "Reserve CPUs")
	fs.StringVar(&o.reserveMemory, "reserve-memory", "", "Reserve Memory")
	fs.DurationVar(&o.stopGrace, "stop-grace-period", 0, "Time to wait before force killing a container (ns|us|ms|s|m|h)")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.StringVar(&o.restartCondition, "restart-condition", "", `Restart when condition is met ("none", "on-failure", "any")`)
	fs.DurationVar(&o.restartDelay, "restart-delay", 0, "Delay between restart attempts (ns|us|ms|s|m|h)")
	fs.Uint64Var(&o.restartMaxAttempts, "restart-max-attempts", 0, "Maximum number of restarts before giving up")
	fs.DurationVar(&o.restartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	fs.Uint64Var(&o.updateParallelism, "update-parallelism", 1, "Maximum number of tasks updated simultaneously (0 to update all at once)")
	fs.DurationVar(&o.updateDelay, "update-delay", 0, "Delay between updates (ns|us|ms|s|m|h)")
	fs.DurationVar(&o.updateMonitor, "update-monitor", 0, "Duration after each task update to monitor for failure (ns|us|ms|s|m|h)")
	fs.StringVar(&o.updateFailureAction, "update-failure-action", "", `Action on update failure ("pause", "continue", "rollback")`)
	fs.StringVar(&o.updateOrder, "update-order", "", `Update order ("start-first", "stop-first")`)
	fs.Uint64Var(&o.rollbackParallelism, "rollback-parallelism", 1, "Maximum number of tasks rolled back simultaneously (0 to roll back all at once)")
	fs.DurationVar(&o.rollbackDelay, "rollback-delay", 0, "Delay between task rollbacks (ns|us|ms|s|m|h)")
	fs.DurationVar(&o.rollbackMonitor, "rollback-monitor", 0, "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)")
	fs.StringVar(&o.rollbackFailureAction, "rollback-failure-action", "", `Action on rollback failure ("pause", "continue")`)
	fs.StringVar(&o.rollbackOr, "rollback-order", "", `Rollback order ("start-first", "stop-first")`)
	fs.StringVar(&o.endpointMode, "endpoint-mode", "vip", "Endpoint mode (vip or dnsrr)")
	fs.Uint64Var(&o.maxReplicas, "replicas-max-per-node", 0, "Maximum number of tasks per node (default 0 = unlimited)")
	o.health.add(fs)
	o.log.add(fs)
}

// parseCPUs reads "0.5" as nano CPUs, as docker's --cpus does.
func parseCPUs(v string) (int64, error) {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return 0, fmt.Errorf("failed to parse %v as a rational number", v)
	}
	n := r.Mul(r, big.NewRat(1e9, 1))
	if !n.IsInt() {
		return 0, fmt.Errorf("value is too precise")
	}
	return n.Num().Int64(), nil
}

func parseMemory(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	return units.RAMInBytes(v)
}

// apply sets the spec fields of the flags given (all that have a
// meaning for create, when all is true).
func (o *specFlags) apply(fs *pflag.FlagSet, s *swarm.ServiceSpec) error {
	ch := fs.Changed
	cs := s.TaskTemplate.ContainerSpec
	if ch("replicas") {
		if s.Mode.Replicated == nil {
			return fmt.Errorf("replicas can only be used with replicated or replicated-job mode")
		}
		r := o.replicas
		s.Mode.Replicated.Replicas = &r
	}
	for flag, set := range map[string]func(){
		"workdir":    func() { cs.Dir = o.workdir },
		"user":       func() { cs.User = o.user },
		"hostname":   func() { cs.Hostname = o.hostname },
		"entrypoint": func() { cs.Command = strings.Fields(o.entrypoint) },
		"stop-grace-period": func() {
			d := o.stopGrace
			cs.StopGracePeriod = &d
		},
		"stop-signal": func() { cs.StopSignal = o.stopSignal },
		"tty":         func() { cs.TTY = o.tty },
		"read-only":   func() { cs.ReadOnly = o.readOnly },
	} {
		if ch(flag) {
			set()
		}
	}
	if ch("limit-cpu") || ch("limit-memory") || ch("reserve-cpu") || ch("reserve-memory") {
		if s.TaskTemplate.Resources == nil {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{}
		}
		res := s.TaskTemplate.Resources
		if ch("limit-cpu") || ch("limit-memory") {
			if res.Limits == nil {
				res.Limits = &swarm.Limit{}
			}
		}
		if ch("reserve-cpu") || ch("reserve-memory") {
			if res.Reservations == nil {
				res.Reservations = &swarm.Resources{}
			}
		}
		for _, r := range []struct {
			flag, value string
			parse       func(string) (int64, error)
			dst         *int64
		}{
			{"limit-cpu", o.limitCPU, parseCPUs, limitField(res, func(l *swarm.Limit) *int64 { return &l.NanoCPUs })},
			{"limit-memory", o.limitMemory, parseMemory, limitField(res, func(l *swarm.Limit) *int64 { return &l.MemoryBytes })},
			{"reserve-cpu", o.reserveCPU, parseCPUs, reserveField(res, func(r *swarm.Resources) *int64 { return &r.NanoCPUs })},
			{"reserve-memory", o.reserveMemory, parseMemory, reserveField(res, func(r *swarm.Resources) *int64 { return &r.MemoryBytes })},
		} {
			if !ch(r.flag) {
				continue
			}
			n, err := r.parse(r.value)
			if err != nil {
				return fmt.Errorf("invalid argument %q for \"--%s\" flag: %w", r.value, r.flag, err)
			}
			*r.dst = n
		}
	}
	if ch("restart-condition") || ch("restart-delay") || ch("restart-max-attempts") || ch("restart-window") {
		if s.TaskTemplate.RestartPolicy == nil {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{}
		}
		rp := s.TaskTemplate.RestartPolicy
		if ch("restart-condition") {
			rp.Condition = swarm.RestartPolicyCondition(o.restartCondition)
		}
		if ch("restart-delay") {
			d := o.restartDelay
			rp.Delay = &d
		}
		if ch("restart-max-attempts") {
			n := o.restartMaxAttempts
			rp.MaxAttempts = &n
		}
		if ch("restart-window") {
			d := o.restartWindow
			rp.Window = &d
		}
	}
	applyUpdateConfig(fs, "update", &s.UpdateConfig, o.updateParallelism, o.updateDelay, o.updateMonitor, o.updateFailureAction, o.updateOrder)
	applyUpdateConfig(fs, "rollback", &s.RollbackConfig, o.rollbackParallelism, o.rollbackDelay, o.rollbackMonitor, o.rollbackFailureAction, o.rollbackOr)
	if ch("endpoint-mode") {
		if s.EndpointSpec == nil {
			s.EndpointSpec = &swarm.EndpointSpec{}
		}
		s.EndpointSpec.Mode = swarm.ResolutionMode(o.endpointMode)
	}
	if ch("replicas-max-per-node") {
		if s.TaskTemplate.Placement == nil {
			s.TaskTemplate.Placement = &swarm.Placement{}
		}
		s.TaskTemplate.Placement.MaxReplicas = o.maxReplicas
	}
	o.log.apply(fs, &s.TaskTemplate)
	return o.health.apply(fs, cs)
}

// limitField and reserveField point at a field of the limits or
// reservations, or at a scratch value when the spec has none (their flags
// were not given).
func limitField(res *swarm.ResourceRequirements, f func(*swarm.Limit) *int64) *int64 {
	if res.Limits == nil {
		return new(int64)
	}
	return f(res.Limits)
}

func reserveField(res *swarm.ResourceRequirements, f func(*swarm.Resources) *int64) *int64 {
	if res.Reservations == nil {
		return new(int64)
	}
	return f(res.Reservations)
}

func applyUpdateConfig(fs *pflag.FlagSet, prefix string, dst **swarm.UpdateConfig, par uint64, delay, monitor time.Duration, action, order string) {
	names := []string{"parallelism", "delay", "monitor", "failure-action", "order"}
	any := false
	for _, n := range names {
		any = any || fs.Changed(prefix+"-"+n)
	}
	if !any {
		return
	}
	if *dst == nil {
		*dst = &swarm.UpdateConfig{Parallelism: 1}
	}
	u := *dst
	if fs.Changed(prefix + "-parallelism") {
		u.Parallelism = par
	}
	if fs.Changed(prefix + "-delay") {
		u.Delay = delay
	}
	if fs.Changed(prefix + "-monitor") {
		u.Monitor = monitor
	}
	if fs.Changed(prefix + "-failure-action") {
		u.FailureAction = swarm.FailureAction(action)
	}
	if fs.Changed(prefix + "-order") {
		u.Order = swarm.UpdateOrder(order)
	}
}

// parsePort reads a --publish value: "[published:]target[/proto]" or the
// long form "published=8080,target=80,protocol=udp,mode=host".
func parsePort(v string) ([]swarm.PortConfig, error) {
	if strings.Contains(v, "=") {
		p := swarm.PortConfig{Protocol: network.TCP, PublishMode: swarm.PortConfigPublishModeIngress}
		for _, field := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(field, "=")
			if !ok {
				return nil, fmt.Errorf("invalid field %s", field)
			}
			switch strings.ToLower(k) {
			case "protocol":
				p.Protocol = network.IPProtocol(strings.ToLower(val))
			case "mode":
				p.PublishMode = swarm.PortConfigPublishMode(strings.ToLower(val))
			case "target":
				n, err := strconv.ParseUint(val, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("invalid target port %s: value must be an integer", val)
				}
				p.TargetPort = uint32(n)
			case "published":
				n, err := strconv.ParseUint(val, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("invalid published port %s: value must be an integer", val)
				}
				p.PublishedPort = uint32(n)
			default:
				return nil, fmt.Errorf("invalid field key %s", k)
			}
		}
		if p.TargetPort == 0 {
			return nil, fmt.Errorf("missing mandatory field 'target'")
		}
		return []swarm.PortConfig{p}, nil
	}
	spec, proto, _ := strings.Cut(v, "/")
	if proto == "" {
		proto = "tcp"
	}
	pub, tgt, ok := strings.Cut(spec, ":")
	if !ok {
		tgt, pub = pub, ""
	}
	tLo, tHi, err := portRange(tgt)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", tgt)
	}
	var pLo, pHi uint32
	if pub != "" {
		if pLo, pHi, err = portRange(pub); err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", pub)
		}
		if pHi-pLo != tHi-tLo {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", tgt, pub)
		}
	}
	var out []swarm.PortConfig
	for i := uint32(0); i <= tHi-tLo; i++ {
		p := swarm.PortConfig{Protocol: network.IPProtocol(proto), TargetPort: tLo + i, PublishMode: swarm.PortConfigPublishModeIngress}
		if pub != "" {
			p.PublishedPort = pLo + i
		}
		out = append(out, p)
	}
	return out, nil
}

// portRange reads "80" or "8000-8010" with moby's parser, the one the
// daemon's port mapper and run's -p use.
func portRange(s string) (uint32, uint32, error) {
	pr, err := network.ParsePortRange(s)
	if err != nil {
		return 0, 0, err
	}
	return uint32(pr.Start()), uint32(pr.End()), nil
}

// kvMap reads KEY=VALUE options into a map (KEY alone is an empty value).
func kvMap(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// mergeEnv updates env (KEY=VALUE entries) with adds and drops the keys
// in rm, keeping the order docker's update keeps (sorted).
func mergeEnv(env, add, rm []string) []string {
	m := map[string]string{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		m[k] = e
	}
	for _, e := range add {
		k, _, _ := strings.Cut(e, "=")
		m[k] = e
	}
	for _, k := range rm {
		k, _, _ = strings.Cut(k, "=")
		delete(m, k)
	}
	out := make([]string, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}
