package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/spf13/cobra"
)

// ComposePlugin is the program that holds the commands which read compose
// files (`compose`, `stack deploy`). Linking compose-go costs a process
// ~30 ms of package initialisation (its JSON schema) before main runs, so
// bin/berth leaves them out and runs this program for them, found next to
// its own executable, then on PATH, as docker runs its CLI plugins.
const ComposePlugin = "berth-compose"

// Plugins are the commands bin/berth does not link. A nil field gets a
// stand-in that runs ComposePlugin with the same arguments; the plugin
// passes the real commands and has berth's whole tree (so its help,
// errors and the generated reference are the same).
type Plugins struct {
	// Compose is `compose`.
	Compose func(*command.Env) *cobra.Command
	// StackDeploy is `stack deploy`.
	StackDeploy func(*command.Env) *cobra.Command
	// Args rewrites the arguments after the global options (compose's
	// -f and -p given before its subcommand).
	Args func([]string) []string
}

// builtIn reports whether p has the plugin's commands itself.
func (p Plugins) builtIn() bool { return p.Compose != nil }

// pluginStub is a command of bin/berth that runs ComposePlugin with path
// (the command's place in the tree: "compose", "stack deploy") and the
// arguments as given: no flag is parsed here, --help included.
func (a *app) pluginStub(use, short string, aliases []string, hidden bool, path ...string) *cobra.Command {
	cmd := &cobra.Command{
		Use:                use,
		Short:              short,
		Aliases:            aliases,
		Hidden:             hidden,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPlugin(cmd.Context(), append(append([]string(nil), path...), args...))
		},
	}
	// `berth help compose` asks the plugin too.
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		if err := a.runPlugin(cmd.Context(), append(append([]string(nil), path...), "--help")); err != nil {
			fmt.Fprintln(a.Err, err)
		}
	})
	return cmd
}

// runPlugin runs ComposePlugin with -H (when given) and args. With the
// process's own standard streams it replaces this process (exec), so the
// terminal, signals and exit status are the plugin's with nothing in
// between; with other streams (tests) it runs as a child over them.
func (a *app) runPlugin(ctx context.Context, args []string) error {
	path, err := findPlugin(ComposePlugin)
	if err != nil {
		return err
	}
	if a.host != "" {
		args = append([]string{"-H", a.host}, args...)
	}
	if a.In == os.Stdin && a.Out == os.Stdout && a.Err == os.Stderr {
		err := syscall.Exec(path, append([]string{path}, args...), os.Environ())
		return fmt.Errorf("run %s: %w", path, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.In, a.Out, a.Err
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &StatusError{Code: code}
	}
	return err
}

// findPlugin looks for name next to the running executable, then on PATH.
func findPlugin(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("this command runs %s, which is neither next to berth nor on PATH (`make build` puts it in bin/)", name)
}
