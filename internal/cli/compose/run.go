package compose

import (
	"fmt"

	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	core "github.com/berth-project/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeExecCmd(o *composeOpts) *cobra.Command {
	var eo containercmd.ExecOptions
	var noTTY, interactive bool
	var index int
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  command.MinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := o.serviceTarget(cmd, args[0], index, false)
			if err != nil {
				return err
			}
			// Like docker compose: a TTY and stdin when run from a terminal,
			// neither with -T or without one.
			term := command.IsTerminal(o.e.In) && command.IsTerminal(o.e.Out)
			eo.TTY = !noTTY && term
			eo.Interactive = interactive && !noTTY && term
			c, err := o.e.Client()
			if err != nil {
				return err
			}
			return containercmd.Exec(cmd.Context(), c, o.e.Streams, eo, ct.ID, args[1:])
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&eo.Detach, "detach", "d", false, "Detached mode: Run command in the background")
	fs.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.")
	fs.BoolVarP(&interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fs.BoolVar(&eo.Privileged, "privileged", false, "Give extended privileges to the process")
	fs.StringArrayVarP(&eo.Env, "env", "e", nil, "Set environment variables")
	fs.StringVarP(&eo.User, "user", "u", "", "Run the command as this user")
	fs.StringVarP(&eo.Workdir, "workdir", "w", "", "Path to workdir directory for this command")
	fs.IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	return cmd
}

type runFlags struct {
	detach, noDeps, rm, servicePorts, noTTY, interactive, build bool
	name, entrypoint, user, workdir                             string
	env, publish                                                []string
}

func newComposeRunCmd(o *composeOpts) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args, &f)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&f.detach, "detach", "d", false, "Run container in background and print container ID")
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fs.StringVarP(&f.user, "user", "u", "", "Run as specified username or uid")
	fs.BoolVar(&f.noDeps, "no-deps", false, "Don't start linked services")
	fs.BoolVar(&f.rm, "rm", false, "Automatically remove the container when it exits")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fs.BoolVarP(&f.servicePorts, "service-ports", "P", false, "Run command with all service's ports enabled and mapped to the host")
	fs.BoolVarP(&f.noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	fs.BoolVarP(&f.interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.BoolVar(&f.build, "build", false, "Build image before starting container")
	return cmd
}

func (o *composeOpts) run(cmd *cobra.Command, args []string, f *runFlags) error {
	ctx := cmd.Context()
	p, err := o.load(ctx)
	if err != nil {
		return err
	}
	s, err := o.service()
	if err != nil {
		return err
	}
	_, ports, err := containercmd.ParsePorts(f.publish, nil)
	if err != nil {
		return err
	}
	term := command.IsTerminal(o.e.In) && command.IsTerminal(o.e.Out)
	ro := core.RunOptions{Service: args[0], Name: f.name, Env: f.env, User: f.user, WorkDir: f.workdir,
		NoDeps: f.noDeps, Rm: f.rm, Ports: ports, ServicePorts: f.servicePorts, Build: f.build,
		Tty: !f.noTTY && term && !f.detach, Interactive: f.interactive && !f.detach}
	if len(args) > 1 {
		ro.Command = args[1:]
	}
	if cmd.Flags().Changed("entrypoint") {
		ro.Entrypoint = []string{f.entrypoint}
		if f.entrypoint == "" {
			ro.Entrypoint = []string{}
		}
	}
	id, name, err := s.CreateOneoff(ctx, p, ro)
	if err != nil {
		return err
	}
	c, err := o.e.Client()
	if err != nil {
		return err
	}
	if f.detach {
		if err := c.ContainerStart(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(o.e.Out, name)
		return nil
	}
	ao := containercmd.AttachOptions{TTY: ro.Tty, Stdin: ro.Interactive, Stdout: true, Stderr: true}
	return containercmd.AttachAndStart(ctx, c, o.e.Streams, id, ao, f.rm, !ro.Tty, true)
}

func newComposePullCmd(o *composeOpts) *cobra.Command {
	var ignore, quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, s, err := o.loadService(cmd.Context())
			if err != nil {
				return err
			}
			if quiet {
				s.Progress = nil
			}
			return s.Pull(cmd.Context(), p, args, ignore)
		},
	}
	cmd.Flags().BoolVar(&ignore, "ignore-pull-failures", false, "Pull what it can and ignores images with pull failures")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Pull without printing progress information")
	return cmd
}

func newComposePushCmd(o *composeOpts) *cobra.Command {
	var ignore bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, s, err := o.loadService(cmd.Context())
			if err != nil {
				return err
			}
			return s.Push(cmd.Context(), p, args, ignore)
		},
	}
	cmd.Flags().BoolVar(&ignore, "ignore-push-failures", false, "Push what it can and ignores images with push failures")
	return cmd
}

func newComposeBuildCmd(o *composeOpts) *cobra.Command {
	var bo core.BuildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, s, err := o.loadService(cmd.Context())
			if err != nil {
				return err
			}
			return s.Build(cmd.Context(), p, args, bo)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&bo.NoCache, "no-cache", false, "Do not use cache when building the image")
	fs.BoolVar(&bo.Pull, "pull", false, "Always attempt to pull a newer version of the image")
	fs.BoolVar(&bo.ForceRm, "force-rm", false, "Always remove intermediate containers")
	fs.BoolVarP(&bo.Quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	return cmd
}
