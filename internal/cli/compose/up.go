package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	core "github.com/berth-project/berth/internal/compose"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// timeoutFlag is -t/--timeout: nil when unset, so containers keep their own
// stop timeout.
func timeoutFlag(fs *pflag.FlagSet) *int {
	f := fs.Lookup("timeout")
	if f == nil || !f.Changed {
		return nil
	}
	n, _ := strconv.Atoi(f.Value.String())
	return &n
}

func parseScale(list []string) (map[string]int, error) {
	m := map[string]int{}
	for _, s := range list {
		name, v, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("invalid scale specifier: %s", s)
		}
		m[name] = n
	}
	return m, nil
}

type upFlags struct {
	detach, noColor, noDeps, forceRecreate, noRecreate, build, noBuild bool
	wait, removeOrphans, abort, noStart, noAttachLogs                  bool
	timeout, waitTimeout                                               int
	scale                                                              []string
	exitCodeFrom                                                       string
}

func newComposeUpCmd(o *composeOpts) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.up(cmd, args, &f)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&f.detach, "detach", "d", false, "Detached mode: Run containers in the background")
	fs.BoolVar(&f.noColor, "no-color", false, "Produce monochrome output")
	fs.BoolVar(&f.noDeps, "no-deps", false, "Don't start linked services")
	fs.BoolVar(&f.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fs.BoolVar(&f.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them. Incompatible with --force-recreate.")
	fs.BoolVar(&f.build, "build", false, "Build images before starting containers")
	fs.BoolVar(&f.noBuild, "no-build", false, "Don't build an image, even if it's policy")
	fs.BoolVar(&f.noStart, "no-start", false, "Don't start the services after creating them")
	fs.BoolVar(&f.wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	fs.IntVar(&f.waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	fs.BoolVar(&f.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fs.BoolVar(&f.abort, "abort-on-container-exit", false, "Stops all containers if any container was stopped. Incompatible with -d")
	fs.StringVar(&f.exitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container. Implies --abort-on-container-exit")
	fs.IntVarP(&f.timeout, "timeout", "t", 10, "Use this timeout in seconds for container shutdown when attached or when containers are already running")
	fs.StringArrayVar(&f.scale, "scale", nil, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")
	return cmd
}

func (o *composeOpts) up(cmd *cobra.Command, args []string, f *upFlags) error {
	ctx := cmd.Context()
	if f.wait {
		f.detach = true
	}
	switch {
	case f.forceRecreate && f.noRecreate:
		return errors.New("--force-recreate and --no-recreate are incompatible")
	case f.detach && (f.abort || f.exitCodeFrom != ""):
		return errors.New("--abort-on-container-exit and --detach are incompatible")
	case f.build && f.noBuild:
		return errors.New("--build and --no-build are incompatible")
	}
	scale, err := parseScale(f.scale)
	if err != nil {
		return err
	}
	p, err := o.load(ctx)
	if err != nil {
		return err
	}
	if f.exitCodeFrom != "" {
		if _, ok := p.Services[f.exitCodeFrom]; !ok {
			return fmt.Errorf("no such service: %s", f.exitCodeFrom)
		}
	}
	s, err := o.service()
	if err != nil {
		return err
	}
	started := time.Now()
	uo := core.UpOptions{Services: args, NoDeps: f.noDeps, ForceRecreate: f.forceRecreate,
		NoRecreate: f.noRecreate, RemoveOrphans: f.removeOrphans, Scale: scale,
		Timeout: timeoutFlag(cmd.Flags()), Build: f.build, NoBuild: f.noBuild, NoStart: f.noStart}
	list, err := s.Up(ctx, p, uo)
	if err != nil {
		return err
	}
	if f.wait {
		return s.Wait(ctx, p, args, time.Duration(f.waitTimeout)*time.Second)
	}
	if f.detach || f.noStart {
		return nil
	}
	return o.attached(ctx, s, p.Name, list, args, f, started, timeoutFlag(cmd.Flags()))
}

// attached streams the containers' output until they exit; ctrl-c stops
// them, as docker compose up does in the foreground.
func (o *composeOpts) attached(ctx context.Context, s *core.Service, project string, list []container.Summary,
	services []string, f *upFlags, started time.Time, timeout *int) error {
	if len(services) > 0 {
		list = core.FilterServices(list, services)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	interrupted := false
	go func() {
		if _, ok := <-sigs; ok {
			interrupted = true
			fmt.Fprintln(o.e.Err, "Gracefully stopping... (press Ctrl+C again to force)")
			cancel()
		}
	}()
	code, err := s.Attach(actx, list, o.e.Out, core.AttachOptions{NoColor: o.noColor(f.noColor),
		Abort: f.abort, ExitCodeFrom: f.exitCodeFrom, Since: strconv.FormatInt(started.Unix(), 10)})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if interrupted || f.abort || f.exitCodeFrom != "" {
		stop := core.Action{Verb: "stop", Done: "Stopped", Reverse: true, Timeout: timeout}
		fmt.Fprintln(o.e.Err, "Aborting on container exit...")
		if serr := s.Each(context.WithoutCancel(ctx), nil, project, nil, stop); serr != nil {
			return serr
		}
	}
	if interrupted {
		return &command.StatusError{Code: 130}
	}
	if code != 0 {
		return &command.StatusError{Code: code}
	}
	return nil
}

func newComposeDownCmd(o *composeOpts) *cobra.Command {
	var removeOrphans, volumes bool
	var rmi string
	var timeout int
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, name, err := o.project(ctx)
			if err != nil {
				return err
			}
			s, err := o.service()
			if err != nil {
				return err
			}
			if len(args) > 0 {
				// Only the named services' containers go; networks stay.
				_, err := s.Remove(ctx, name, args, true, volumes, timeoutFlag(cmd.Flags()))
				return err
			}
			return s.Down(ctx, name, p, core.DownOptions{RemoveOrphans: removeOrphans, Volumes: volumes,
				RMI: rmi, Timeout: timeoutFlag(cmd.Flags())})
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fs.BoolVarP(&volumes, "volumes", "v", false, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers")
	fs.StringVar(&rmi, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	fs.IntVarP(&timeout, "timeout", "t", 10, "Specify a shutdown timeout in seconds")
	return cmd
}

func newComposeCreateCmd(o *composeOpts) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SERVICE...]",
		Short: "Creates containers for a service",
		RunE: func(cmd *cobra.Command, args []string) error {
			f.noStart, f.detach = true, true
			return o.up(cmd, args, &f)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fs.BoolVar(&f.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them. Incompatible with --force-recreate.")
	fs.BoolVar(&f.build, "build", false, "Build images before starting containers")
	fs.BoolVar(&f.noBuild, "no-build", false, "Don't build an image, even if it's policy")
	fs.BoolVar(&f.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fs.StringArrayVar(&f.scale, "scale", nil, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")
	return cmd
}

func newComposeStartCmd(o *composeOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, s, err := o.loadService(cmd.Context())
			if err != nil {
				return err
			}
			return s.Start(cmd.Context(), p, args)
		},
	}
}

// newComposeActionCmd is stop, restart, pause and unpause: one POST per
// container of the services.
func newComposeActionCmd(o *composeOpts, verb, short, done string, reverse bool) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   verb + " [OPTIONS] [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			a := core.Action{Verb: verb, Done: done, Reverse: reverse, Timeout: timeoutFlag(cmd.Flags())}
			return s.Each(cmd.Context(), p, name, args, a)
		},
	}
	if verb == "stop" || verb == "restart" {
		cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Specify a shutdown timeout in seconds")
	}
	return cmd
}

func newComposeKillCmd(o *composeOpts) *cobra.Command {
	var signal string
	var removeOrphans bool
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			return s.Each(cmd.Context(), p, name, args, core.Action{Verb: "kill", Done: "Killed", Reverse: true,
				Signal: signal})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	return cmd
}

func newComposeRmCmd(o *composeOpts) *cobra.Command {
	var force, stop, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			gone, err := s.Remove(cmd.Context(), name, args, stop, volumes, nil)
			if err == nil && len(gone) == 0 {
				fmt.Fprintln(o.e.Err, "No stopped containers")
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal")
	fs.BoolVarP(&stop, "stop", "s", false, "Stop the containers, if required, before removing")
	fs.BoolVarP(&volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	return cmd
}

func newComposeScaleCmd(o *composeOpts) *cobra.Command {
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "scale [SERVICE=REPLICAS...]",
		Short: "Scale services",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scale, err := parseScale(args)
			if err != nil {
				return err
			}
			p, s, err := o.loadService(cmd.Context())
			if err != nil {
				return err
			}
			var names []string
			for n := range scale {
				names = append(names, n)
			}
			_, err = s.Up(cmd.Context(), p, core.UpOptions{Services: names, Scale: scale, NoDeps: noDeps, NoRecreate: true})
			return err
		},
	}
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't start linked services")
	return cmd
}
