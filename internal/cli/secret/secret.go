// Package secret is `berth secret` and `berth config`: create, ls,
// inspect and rm of swarm secrets and configs, with docker CLI 28's output.
// The two groups differ only in their API calls and columns, so one
// generic set of commands serves both.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/service"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
)

// object is what the commands read of a secret or config.
type object struct {
	id, name, driver string
	labels           map[string]string
	created, updated time.Time
	data             []byte
}

// kind is one of the two groups.
type kind[T any] struct {
	name, title, short string // "secret", "SECRET", "Manage Swarm secrets"
	format             string // ls's default table
	fileOptional       bool   // secret create takes the data from a driver without a file
	list               func(*client.Client, context.Context, client.Filters) ([]T, error)
	inspect            func(*client.Client, context.Context, string) (T, json.RawMessage, error)
	create             func(*client.Client, context.Context, swarm.Annotations, []byte, string) (string, error)
	remove             func(*client.Client, context.Context, string) error
	object             func(T) object
	pretty             func(object) string // inspect --pretty
}

// NewCommand is `berth secret`.
func NewCommand(e *command.Env) *cobra.Command {
	return kind[swarm.Secret]{
		name: "secret", title: "SECRET", short: "Manage Swarm secrets", fileOptional: true,
		format:  "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
		list:    (*client.Client).SecretList,
		inspect: (*client.Client).SecretInspect,
		create: func(c *client.Client, ctx context.Context, a swarm.Annotations, data []byte, driver string) (string, error) {
			spec := swarm.SecretSpec{Annotations: a, Data: data}
			if driver != "" {
				spec.Driver = &swarm.Driver{Name: driver}
			}
			return c.SecretCreate(ctx, spec)
		},
		remove: (*client.Client).SecretRemove,
		object: func(s swarm.Secret) object {
			o := object{id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels, created: s.CreatedAt, updated: s.UpdatedAt}
			if s.Spec.Driver != nil {
				o.driver = s.Spec.Driver.Name
			}
			return o
		},
		pretty: func(o object) string {
			return "ID:              " + o.id + "\nName:              " + o.name + "\n" + prettyLabels(o.labels) +
				"Driver:            " + o.driver + "\nCreated at:        " + prettyTime(o.created) +
				"\nUpdated at:        " + prettyTime(o.updated)
		},
	}.command(e)
}

// NewConfigCommand is `berth config`.
func NewConfigCommand(e *command.Env) *cobra.Command {
	return kind[swarm.Config]{
		name: "config", title: "CONFIG", short: "Manage Swarm configs",
		format:  "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
		list:    (*client.Client).ConfigList,
		inspect: (*client.Client).ConfigInspect,
		create: func(c *client.Client, ctx context.Context, a swarm.Annotations, data []byte, _ string) (string, error) {
			return c.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: a, Data: data})
		},
		remove: (*client.Client).ConfigRemove,
		object: func(s swarm.Config) object {
			return object{id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels, created: s.CreatedAt, updated: s.UpdatedAt, data: s.Spec.Data}
		},
		pretty: func(o object) string {
			return "ID:\t\t\t" + o.id + "\nName:\t\t\t" + o.name + "\n" + prettyLabels(o.labels) +
				"Created at:            \t" + prettyTime(o.created) + "\nUpdated at:            \t" + prettyTime(o.updated) +
				"\nData:\n" + string(o.data)
		},
	}.command(e)
}

func (k kind[T]) command(e *command.Env) *cobra.Command {
	return command.Group(k.name, k.short, k.createCmd(e), k.inspectCmd(e), k.listCmd(e), k.removeCmd(e))
}

func (k kind[T]) createCmd(e *command.Env) *cobra.Command {
	var labels []string
	var driver string
	use := "create [OPTIONS] " + k.title + " file|-"
	args := command.ExactArgs(2)
	if k.fileOptional {
		use = "create [OPTIONS] " + k.title + " [file|-]"
		args = command.RangeArgs(1, 2)
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Create a " + k.name + " from a file or STDIN as content",
		Args:  args,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			var data []byte
			var err error
			switch {
			case driver != "" && len(args) > 1:
				return errors.New("both positional file and driver options are set; only one may be used")
			case driver == "" && len(args) == 1:
				return errors.New("either a file or a driver option must be specified")
			case len(args) > 1 && args[1] == "-":
				data, err = io.ReadAll(e.In)
			case len(args) > 1:
				data, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("error reading content from %q: %v", args[len(args)-1], err)
			}
			lm := map[string]string{}
			for _, l := range labels {
				kk, v, _ := strings.Cut(l, "=")
				lm[kk] = v
			}
			id, err := k.create(c, cmd.Context(), swarm.Annotations{Name: args[0], Labels: lm}, data, driver)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Out, id)
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, strings.ToUpper(k.name[:1])+k.name[1:]+" labels")
	if k.fileOptional {
		cmd.Flags().StringVarP(&driver, "driver", "d", "", "Secret driver")
	}
	cmd.Flags().String("template-driver", "", "Template driver")
	return cmd
}

func (k kind[T]) inspectCmd(e *command.Env) *cobra.Command {
	var format string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] " + k.title + " [" + k.title + "...]",
		Short: "Display detailed information on one or more " + k.name + "s",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pretty {
				format = "pretty"
			}
			if strings.HasPrefix(format, "pretty") && format != "pretty" {
				return errors.New("cannot supply extra formatting options to the pretty template")
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			if format != "pretty" {
				return service.Inspect(cmd.Context(), e.Out, args, format, func(ref string) (any, []byte, error) {
					return k.inspect(c, cmd.Context(), ref)
				})
			}
			// As docker: the first object that fails ends it, and
			// nothing is printed.
			var b strings.Builder
			for _, ref := range args {
				v, _, err := k.inspect(c, cmd.Context(), ref)
				if err != nil {
					return err
				}
				b.WriteString(k.pretty(k.object(v)) + "\n")
			}
			_, err = io.WriteString(e.Out, b.String())
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", command.InspectFormatHelp)
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

// prettyLabels is the Labels block of a pretty inspect ("" without labels).
func prettyLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("Labels:\n")
	for _, k := range keys {
		b.WriteString(" - " + k)
		if v := labels[k]; v != "" {
			b.WriteString("=" + v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// prettyTime is a time as docker's pretty inspect shows it (Go's own form).
func prettyTime(t time.Time) string { return command.PrettyPrint(t.String()) }

var headers = map[string]string{"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"}

func (k kind[T]) listCmd(e *command.Env) *cobra.Command {
	return command.ListCommand("List "+k.name+"s", func(cmd *cobra.Command, lf command.ListFlags) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		l, err := k.list(c, cmd.Context(), client.ParseFilters(lf.Filter))
		if err != nil {
			return err
		}
		objs := make([]object, len(l))
		for i, v := range l {
			objs[i] = k.object(v)
		}
		sort.SliceStable(objs, func(i, j int) bool { return command.NaturalLess(objs[i].name, objs[j].name) })
		f := lf.Format
		switch {
		case lf.Quiet:
			f = "{{.ID}}"
		case f == "" || f == "table":
			f = k.format
		}
		now := time.Now().UTC()
		rows := make([]any, len(objs))
		for i, o := range objs {
			rows[i] = row{o, now}
		}
		return command.Table{Format: f, Headers: headers}.Render(e.Out, rows)
	})
}

func (k kind[T]) removeCmd(e *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm " + k.title + " [" + k.title + "...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more " + k.name + "s",
		Args:    command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return command.RemoveEach(e.Out, args, func(n string) error { return k.remove(c, cmd.Context(), n) })
		}),
	}
}

// row is one line of `secret ls` / `config ls`.
type row struct {
	o   object
	now time.Time
}

func (r row) ID() string        { return r.o.id }
func (r row) Name() string      { return r.o.name }
func (r row) Driver() string    { return r.o.driver }
func (r row) CreatedAt() string { return command.HumanDuration(r.now.Sub(r.o.created)) + " ago" }
func (r row) UpdatedAt() string { return command.HumanDuration(r.now.Sub(r.o.updated)) + " ago" }
func (r row) Label(name string) string {
	return r.o.labels[name]
}

func (r row) Labels() string {
	kv := make([]string, 0, len(r.o.labels))
	for k, v := range r.o.labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (r row) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(),
		"CreatedAt": r.CreatedAt(), "UpdatedAt": r.UpdatedAt(), "Labels": r.Labels()})
}
