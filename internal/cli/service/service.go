// Package service is `berth service`, the task and service listings that
// `berth stack` and `berth node ps` share, and the wait for a service to
// converge. Its output is docker CLI 28's (tables, inspect JSON, log
// prefixes), so scripts written for one work with the other.
package service

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
)

// NewCommand is `berth service`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("service", "Manage Swarm services",
		newCreateCmd(e), newInspectCmd(e), newLogsCmd(e), newListCmd(e), newPsCmd(e), newRemoveCmd(e),
		newRollbackCmd(e), newScaleCmd(e), newUpdateCmd(e))
}

func newListCmd(e *command.Env) *cobra.Command {
	return command.ListCommand("List services", func(cmd *cobra.Command, f command.ListFlags) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		l, err := c.ServiceList(cmd.Context(), client.ParseFilters(f.Filter), !f.Quiet)
		if err != nil {
			return err
		}
		return WriteList(e.Out, l, f.Format, f.Quiet)
	})
}

// AddTaskFlags adds the flags of a task list (`service ps`, `stack ps`, `node ps`).
func AddTaskFlags(cmd *cobra.Command, o *TaskOptions, filter *[]string) {
	fs := cmd.Flags()
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display task IDs")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	fs.BoolVar(&o.NoResolve, "no-resolve", false, "Do not map IDs to Names")
	fs.StringVar(&o.Format, "format", "", "Pretty-print tasks using a Go template")
	fs.StringArrayVarP(filter, "filter", "f", nil, "Filter output based on conditions provided")
}

func newPsCmd(e *command.Env) *cobra.Command {
	var o TaskOptions
	var filter []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return PS(cmd.Context(), c, args, client.ParseFilters(filter), o, e.Out)
		}),
	}
	AddTaskFlags(cmd, &o, &filter)
	return cmd
}

// PS is `service ps`: services by ID, name or unique ID prefix; the ones
// not found are reported after the tasks of the others.
func PS(ctx context.Context, c *client.Client, services []string, f client.Filters, o TaskOptions, out io.Writer) error {
	if f == nil {
		f = client.Filters{}
	}
	byID, err := c.ServiceList(ctx, client.Filters{"id": services}, false)
	if err != nil {
		return err
	}
	byName, err := c.ServiceList(ctx, client.Filters{"name": services}, false)
	if err != nil {
		return err
	}
	var notfound []string
	found := 0
next:
	for _, ref := range services {
		for _, s := range byID {
			if s.ID == ref {
				f["service"] = append(f["service"], s.ID)
				found++
				continue next
			}
		}
		for _, s := range byName {
			if s.Spec.Name == ref {
				f["service"] = append(f["service"], s.ID)
				found++
				continue next
			}
		}
		match := false
		for _, s := range byID {
			if strings.HasPrefix(s.ID, ref) {
				if match {
					return errors.New("multiple services found with provided prefix: " + ref)
				}
				f["service"] = append(f["service"], s.ID)
				found++
				match = true
			}
		}
		if !match {
			notfound = append(notfound, "no such service: "+ref)
		}
	}
	if found == 0 {
		return errors.New(strings.Join(notfound, "\n"))
	}
	if err := resolveNodeFilter(ctx, c, f); err != nil {
		return err
	}
	tasks, err := c.TaskList(ctx, f)
	if err != nil {
		return err
	}
	if err := PrintTasks(ctx, c, out, tasks, o); err != nil {
		return err
	}
	if len(notfound) > 0 {
		return errors.New(strings.Join(notfound, "\n"))
	}
	return nil
}

// resolveNodeFilter turns node=self (and names) into node IDs, as docker does.
func resolveNodeFilter(ctx context.Context, c *client.Client, f client.Filters) error {
	nodes := f["node"]
	if len(nodes) == 0 {
		return nil
	}
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		id, err := NodeReference(ctx, c, n)
		if err != nil {
			return err
		}
		out = append(out, id)
	}
	f["node"] = out
	return nil
}

// NodeReference is the node ID for "self", any other reference unchanged.
func NodeReference(ctx context.Context, c *client.Client, ref string) (string, error) {
	if ref != "self" {
		return ref, nil
	}
	info, err := c.SwarmInfo(ctx)
	if err != nil {
		return "", err
	}
	if info.NodeID == "" {
		// Not a manager, probably: a swarm call says so in the daemon's words.
		if _, err := c.NodeList(ctx, nil); err != nil {
			return "", err
		}
		return "", errors.New("node ID not found in /info")
	}
	return info.NodeID, nil
}

func newInspectCmd(e *command.Env) *cobra.Command {
	var format string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Display detailed information on one or more services",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty && format != "" {
				return errors.New("--format is incompatible with human friendly format")
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			if pretty {
				return InspectPretty(cmd.Context(), c, args, e.Out)
			}
			return Inspect(cmd.Context(), e.Out, args, format, func(ref string) (any, []byte, error) {
				s, raw, err := c.ServiceInspect(cmd.Context(), ref, true)
				if client.StatusOf(err) == http.StatusNotFound {
					return nil, nil, fmt.Errorf("Error: no such service: %s", ref) //nolint:staticcheck // docker's words
				}
				return s, raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", command.InspectFormatHelp)
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

// InspectPretty is `service inspect --pretty`: every service or the first
// error, as docker prints nothing when one of them fails.
func InspectPretty(ctx context.Context, c *client.Client, refs []string, out io.Writer) error {
	var b strings.Builder
	for _, ref := range refs {
		s, _, err := c.ServiceInspect(ctx, ref, true)
		if client.StatusOf(err) == http.StatusNotFound {
			err = fmt.Errorf("Error: no such service: %s", ref) //nolint:staticcheck // docker's words
		}
		if err != nil {
			return &command.StatusError{Status: err.Error(), Code: 1}
		}
		names := map[string]string{}
		for _, n := range s.Spec.TaskTemplate.Networks {
			if nw, err := c.NetworkInspect(ctx, n.Target); err == nil {
				names[nw.ID] = nw.Name
			}
		}
		WritePretty(&b, s, names)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// Inspect prints objects as docker's inspect commands: an indented JSON
// array or a template per object, the errors (one a line) after them
// with exit status 1.
func Inspect(ctx context.Context, out io.Writer, refs []string, format string, get func(string) (any, []byte, error)) error {
	var raws [][]byte
	var typed []any
	var errs []string
	for _, ref := range refs {
		v, raw, err := get(ref)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		raws = append(raws, raw)
		typed = append(typed, v)
	}
	if format == "" || format == "json" {
		rs := make([]stdjson.RawMessage, len(raws))
		for i, r := range raws {
			rs[i] = r
		}
		if err := command.WriteJSONArray(out, rs); err != nil {
			return err
		}
	} else {
		for i := range raws {
			if err := command.ExecInspectTemplate(out, format, typed[i], raws[i]); err != nil {
				return &command.StatusError{Status: err.Error(), Code: 1}
			}
		}
	}
	if len(errs) > 0 {
		return &command.StatusError{Status: strings.Join(errs, "\n"), Code: 1}
	}
	return nil
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Args:    command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return command.RemoveEach(e.Out, args, func(s string) error { return c.ServiceRemove(cmd.Context(), s) })
		}),
	}
}

func newScaleCmd(e *command.Env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or multiple replicated services",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := command.MinArgs(1)(cmd, args); err != nil {
				return err
			}
			for _, a := range args {
				if k, v, ok := strings.Cut(a, "="); !ok || k == "" || v == "" {
					return &command.StatusError{Status: fmt.Sprintf("Invalid scale specifier '%s'.\nSee '%s --help'.\n\nUsage:  %s\n\n%s", a, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
				}
			}
			return nil
		},
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Scale(cmd.Context(), c, args, detach, e.Out, e.Err)
		}),
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	return cmd
}

// Scale is `service scale`.
func Scale(ctx context.Context, c *client.Client, args []string, detach bool, out, errOut io.Writer) error {
	var errs []error
	var scaled []string
	for _, a := range args {
		name, n, _ := strings.Cut(a, "=")
		replicas, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid replicas value %s: %v", name, n, err))
			continue
		}
		s, _, err := c.ServiceInspect(ctx, name, false)
		if err == nil {
			switch {
			case s.Spec.Mode.Replicated != nil:
				s.Spec.Mode.Replicated.Replicas = &replicas
			case s.Spec.Mode.ReplicatedJob != nil:
				s.Spec.Mode.ReplicatedJob.TotalCompletions = &replicas
			default:
				err = errors.New("scale can only be used with replicated or replicated-job mode")
			}
		}
		var resp swarm.ServiceUpdateResponse
		if err == nil {
			resp, err = c.ServiceUpdate(ctx, s.ID, s.Version, s.Spec, client.ServiceUpdateOptions{})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
			continue
		}
		for _, w := range resp.Warnings {
			fmt.Fprintln(errOut, w)
		}
		fmt.Fprintf(out, "%s scaled to %d\n", name, replicas)
		scaled = append(scaled, name)
	}
	if !detach {
		for _, name := range scaled {
			if err := WaitOnService(ctx, c, name, false, out); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func newRollbackCmd(e *command.Env) *cobra.Command {
	var detach, quiet bool
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			ctx := cmd.Context()
			s, _, err := c.ServiceInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			resp, err := c.ServiceUpdate(ctx, s.ID, s.Version, s.Spec, client.ServiceUpdateOptions{Rollback: "previous"})
			if err != nil {
				return err
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(e.Err, w)
			}
			fmt.Fprintln(e.Out, args[0])
			if detach {
				return nil
			}
			return WaitOnService(ctx, c, args[0], quiet, e.Out)
		}),
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output")
	return cmd
}

// logsOptions are `service logs`' flags.
type logsOptions struct {
	follow, timestamps, details, raw, noTrunc, noResolve, noTaskIDs bool
	since, tail                                                     string
}

func newLogsCmd(e *command.Env) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Fetch the logs of a service or task",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Logs(cmd.Context(), c, args[0], o, e.Out, e.Err)
		}),
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.noResolve, "no-resolve", false, "Do not map IDs to Names in output")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	fs.BoolVar(&o.raw, "raw", false, "Do not neatly format logs")
	fs.BoolVar(&o.noTaskIDs, "no-task-ids", false, "Do not include task IDs in output")
	fs.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	fs.StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	fs.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

// Logs is `service logs`: the service's (or one task's) logs, each line
// prefixed "SERVICE.SLOT.TASKID@NODE    | " as docker prefixes them.
func Logs(ctx context.Context, c *client.Client, ref string, o logsOptions, out, errOut io.Writer) error {
	q := url.Values{}
	q.Set("stdout", "1")
	q.Set("stderr", "1")
	if o.follow {
		q.Set("follow", "1")
	}
	if o.timestamps {
		q.Set("timestamps", "1")
	}
	if o.details || !o.raw {
		q.Set("details", "1")
	}
	q.Set("tail", o.tail)
	if o.since != "" {
		q.Set("since", sinceValue(o.since, time.Now()))
	}
	maxLen := 1
	var tty bool
	var body io.ReadCloser
	s, _, err := c.ServiceInspect(ctx, ref, false)
	switch {
	case err == nil:
		tty = s.Spec.TaskTemplate.ContainerSpec != nil && s.Spec.TaskTemplate.ContainerSpec.TTY
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			maxLen = len(strconv.FormatUint(*r.Replicas, 10))
		}
		if tty && !o.raw {
			return errors.New("tty service logs only supported with --raw")
		}
		body, err = c.ServiceLogs(ctx, ref, q)
	case client.StatusOf(err) == http.StatusNotFound:
		t, _, terr := c.TaskInspect(ctx, ref)
		if terr != nil {
			if client.StatusOf(terr) == http.StatusNotFound {
				return fmt.Errorf("no such task or service: %v", ref)
			}
			return terr
		}
		tty = t.Spec.ContainerSpec != nil && t.Spec.ContainerSpec.TTY
		maxLen = len(strconv.Itoa(t.Slot))
		if tty && !o.raw {
			return errors.New("tty service logs only supported with --raw")
		}
		body, err = c.TaskLogs(ctx, ref, q)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if tty {
		_, err := io.Copy(out, body)
		return err
	}
	if o.raw {
		_, err := stdcopy.StdCopy(out, errOut, body)
		return err
	}
	p := &prefixer{c: c, o: o, pad: maxLen, res: &resolver{c: c, off: o.noResolve, services: map[string]string{}, nodes: map[string]string{}}, cache: map[[3]string]string{}}
	_, err = stdcopy.StdCopy(&logWriter{ctx, p, out}, &logWriter{ctx, p, errOut}, body)
	return err
}

// sinceValue is a --since value as the API takes it: a relative duration
// becomes a Unix time.
func sinceValue(v string, now time.Time) string {
	if d, err := time.ParseDuration(v); err == nil {
		return strconv.FormatInt(now.Add(-d).Unix(), 10)
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
	}
	return v
}

type prefixer struct {
	c     *client.Client
	o     logsOptions
	pad   int
	res   *resolver
	cache map[[3]string]string
}

func (p *prefixer) prefix(ctx context.Context, node, service, task string) (string, error) {
	key := [3]string{node, service, task}
	if v, ok := p.cache[key]; ok {
		return v, nil
	}
	nodeName := p.res.node(ctx, node)
	svcName := p.res.service(ctx, service)
	t, _, err := p.c.TaskInspect(ctx, task)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s.%d", svcName, t.Slot)
	if !p.o.noTaskIDs {
		if p.o.noTrunc {
			name += "." + t.ID
		} else {
			name += "." + command.TruncID(t.ID)
		}
	}
	pad := p.pad - len(strconv.Itoa(t.Slot))
	v := name + "@" + nodeName
	if pad > 0 {
		v += strings.Repeat(" ", pad)
	}
	p.cache[key] = v
	return v, nil
}

// logWriter turns one log line with details into docker's prefixed line.
type logWriter struct {
	ctx context.Context
	p   *prefixer
	w   io.Writer
}

func (lw *logWriter) Write(buf []byte) (int, error) {
	n := 2
	di := 0
	if lw.p.o.timestamps {
		n, di = 3, 1
	}
	parts := bytes.SplitN(buf, []byte(" "), n)
	if len(parts) != n {
		return 0, fmt.Errorf("invalid context in log message: %v", string(buf))
	}
	details := map[string]string{}
	for _, kv := range strings.Split(string(parts[di]), ",") {
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		details[k] = v
	}
	node, service, task := details["com.docker.swarm.node.id"], details["com.docker.swarm.service.id"], details["com.docker.swarm.task.id"]
	if node == "" || service == "" || task == "" {
		return 0, fmt.Errorf("missing task context in details: %v", details)
	}
	delete(details, "com.docker.swarm.node.id")
	delete(details, "com.docker.swarm.service.id")
	delete(details, "com.docker.swarm.task.id")
	var out []byte
	if lw.p.o.timestamps {
		out = append(append(out, parts[0]...), ' ')
	}
	pre, err := lw.p.prefix(lw.ctx, node, service, task)
	if err != nil {
		return 0, err
	}
	out = append(out, pre+"    | "...)
	if lw.p.o.details {
		d := make([]string, 0, len(details))
		for k, v := range details {
			d = append(d, k+"="+v)
		}
		sort.Strings(d)
		out = append(append(out, strings.Join(d, ",")...), ' ')
	}
	out = append(out, parts[di+1]...)
	if _, err := lw.w.Write(out); err != nil {
		return 0, err
	}
	return len(buf), nil
}
