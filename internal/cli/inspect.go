package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

// inspectKind is one object type inspect can look up.
type inspectKind struct {
	name string
	path func(ref string) string
	// fetch, when set, reads the object through its typed client method
	// (size asks a container's sizes); path is used otherwise.
	fetch func(ctx context.Context, c *client.Client, ref string, size bool) (json.RawMessage, error)
	typed func() any // a wire struct for templates; raw JSON is the fallback
	// missing words a 404 for this kind's own inspect command (docker
	// repeats the daemon's message there); nil: "Error: No such <what>: ref".
	missing func(err error) string
}

var (
	networkKind = inspectKind{name: "network", path: func(r string) string { return "/networks/" + url.PathEscape(r) },
		typed:   func() any { return &network.Inspect{} },
		missing: daemonWords}
	volumeKind = inspectKind{name: "volume", path: func(r string) string { return "/volumes/" + url.PathEscape(r) },
		typed: func() any { return &volume.Volume{} }, missing: daemonWords}
	inspectKinds = []inspectKind{
		{name: "container", fetch: fetchContainer, typed: func() any { return &container.InspectResponse{} }},
		{name: "image", path: func(r string) string { return "/images/" + r + "/json" }, typed: func() any { return &image.InspectResponse{} }},
		networkKind,
		volumeKind,
	}
)

// daemonWords reports a missing object as the daemon worded it, as docker's
// per-type inspect commands do.
func daemonWords(err error) string { return err.Error() }

func kindByName(n string) (inspectKind, bool) {
	for _, k := range inspectKinds {
		if k.name == n {
			return k, true
		}
	}
	return inspectKind{}, false
}

type inspectOpts struct {
	format string
	size   bool
	kind   string
}

func newInspectCmd(a *app) *cobra.Command {
	var o inspectOpts
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Docker objects",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds := inspectKinds
			if o.kind != "" {
				k, ok := kindByName(o.kind)
				if !ok {
					return fmt.Errorf("%q is not a valid value for --type", o.kind)
				}
				kinds = []inspectKind{k}
			}
			return a.inspect(cmd.Context(), args, kinds, o, "object")
		},
	}
	addInspectFlags(cmd, &o)
	cmd.Flags().StringVar(&o.kind, "type", "", "Only inspect objects of the given type")
	return cmd
}

func addInspectFlags(cmd *cobra.Command, o *inspectOpts) {
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&o.size, "size", "s", false, "Display total file sizes if the type is container")
}

func newImageInspectCmd(a *app) *cobra.Command {
	var o inspectOpts
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.inspect(cmd.Context(), args, inspectKinds[1:2], o, "image")
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// inspect prints the objects as an indented JSON array, or one template
// result per object, like docker; missing objects are reported at the end.
func (a *app) inspect(ctx context.Context, refs []string, kinds []inspectKind, o inspectOpts, what string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raws []json.RawMessage
	var typed []any
	var missing []string
	for _, ref := range refs {
		raw, k, err := fetchInspect(ctx, c, ref, kinds, o.size)
		if err != nil {
			if client.StatusOf(err) != http.StatusNotFound {
				return err
			}
			if len(kinds) == 1 && kinds[0].missing != nil {
				missing = append(missing, kinds[0].missing(err))
			} else {
				missing = append(missing, fmt.Sprintf("Error: No such %s: %s", what, ref))
			}
			continue
		}
		raws = append(raws, raw)
		v := k.typed()
		if json.Unmarshal(raw, v) != nil {
			v = nil
		}
		typed = append(typed, v)
	}
	if o.format == "" {
		if err := writeJSONArray(a.Out, raws); err != nil {
			return err
		}
	} else {
		for i, raw := range raws {
			if err := execInspectTemplate(a.Out, o.format, typed[i], raw); err != nil {
				return err
			}
		}
	}
	if len(missing) > 0 {
		return &StatusError{Status: strings.Join(missing, "\n"), Code: 1}
	}
	return nil
}

func fetchInspect(ctx context.Context, c *client.Client, ref string, kinds []inspectKind, size bool) (json.RawMessage, inspectKind, error) {
	var lastErr error
	for _, k := range kinds {
		var raw json.RawMessage
		var err error
		if k.fetch != nil {
			raw, err = k.fetch(ctx, c, ref, size)
		} else {
			err = c.Get(ctx, k.path(ref), nil, &raw)
		}
		if err == nil {
			return raw, k, nil
		}
		lastErr = err
		if client.StatusOf(err) != http.StatusNotFound {
			break
		}
	}
	return nil, inspectKind{}, lastErr
}

// fetchContainer is the container kind's inspect: the body as the daemon
// sent it (one that does not decode is still shown, as before).
func fetchContainer(ctx context.Context, c *client.Client, ref string, size bool) (json.RawMessage, error) {
	_, raw, err := c.ContainerInspectWithRaw(ctx, ref, size)
	if raw != nil {
		return raw, nil
	}
	return nil, err
}

var (
	writeJSONArray      = command.WriteJSONArray
	execInspectTemplate = command.ExecInspectTemplate
)
