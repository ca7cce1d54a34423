package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ShowProgress renders a pull/push/load progress stream: on a terminal
// with docker's own renderer (a line per layer, redrawn, with progress
// bars), otherwise as PrintStream does.
func ShowProgress(r io.Reader, w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok || !IsTerminal(f) {
		return PrintStream(r, w)
	}
	// Its errors (*jsonstream.Error) print as the bare message, like
	// PrintStream's.
	return jsonmessage.DisplayJSONMessagesStream(r, f, f.Fd(), true, nil)
}

// PrintStream prints a daemon JSON message stream the way the docker CLI
// does off a terminal: "stream" text as it is, "ID: status" lines, and
// none of the byte-count updates of Downloading/Pushing. The stream's first
// error is returned.
func PrintStream(r io.Reader, w io.Writer) error {
	return jsonstream.Decode(r, func(m jsonstream.Message) error {
		switch {
		case m.Stream != "":
			fmt.Fprint(w, m.Stream)
		case m.Progress != nil && (m.Progress.Current > 0 || m.Progress.Total > 0):
		case m.ID != "" && m.Status != "":
			fmt.Fprintf(w, "%s: %s\n", m.ID, m.Status)
		case m.Status != "":
			fmt.Fprintln(w, m.Status)
		}
		return nil
	})
}

// PrintStreamOf prints the stream a typed call opened (PrintStream) and
// closes it.
func PrintStreamOf(w io.Writer, rc io.ReadCloser, err error) error {
	if err != nil {
		return err
	}
	defer rc.Close()
	return PrintStream(rc, w)
}

// ParsePlatform reads --platform ("os[/arch[/variant]]"); "" is none.
func ParsePlatform(platform string) (*ocispec.Platform, error) {
	if platform == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(platform), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("invalid platform %q: expected os[/arch[/variant]]", platform)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return &p, nil
}

// Platforms is ParsePlatform of a flag that may be repeated or empty.
func Platforms(list ...string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	for _, s := range list {
		p, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

// Since renders a unix time as docker's "5 seconds ago".
func Since(now time.Time, unix int64) string {
	return HumanDuration(now.Sub(time.Unix(unix, 0))) + " ago"
}

// PrintDeleted lists what a prune removed under heading ("Deleted
// Volumes:"), followed by a blank line, as docker does; nothing when none.
func PrintDeleted(w io.Writer, heading string, names []string) {
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, heading)
	for _, n := range names {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w)
}

// PrintReclaimed is the last line of every prune command.
func PrintReclaimed(w io.Writer, n int64) { fmt.Fprintln(w, "Total reclaimed space:", HumanSize(n)) }

// MapValue is docker's map option: repeated key=value flags, split at the
// first "=" only, so "-o o=size=10m,uid=1000" keeps its commas.
type MapValue struct{ M *map[string]string }

// Set adds one key=value.
func (v MapValue) Set(s string) error {
	k, val, _ := strings.Cut(s, "=")
	if *v.M == nil {
		*v.M = map[string]string{}
	}
	(*v.M)[k] = val
	return nil
}

// Type is the flag's type in help.
func (v MapValue) Type() string { return "map" }

func (v MapValue) String() string {
	if v.M == nil || len(*v.M) == 0 {
		return "map[]"
	}
	return fmt.Sprint(*v.M)
}

// LabelMap turns --label k=v (or a bare k) into a map; none gives nil.
func LabelMap(labels []string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// InspectKind is one object type an inspect command can look up: Fetch
// answers the decoded object (nil when it does not decode) and the
// daemon's JSON.
type InspectKind struct {
	Name  string
	Fetch func(ctx context.Context, c *client.Client, ref string) (any, json.RawMessage, error)
	// Missing words a 404 for this kind's own inspect command (docker
	// repeats the daemon's message there); nil: "Error: No such <what>: ref".
	Missing func(err error) string
}

// DaemonWords reports a missing object as the daemon worded it, as
// docker's per-type inspect commands do.
func DaemonWords(err error) string { return err.Error() }

// Typed adapts a client's XInspectWithRaw method to InspectKind.Fetch.
func Typed[T any](inspect func(*client.Client, context.Context, string) (T, json.RawMessage, error)) func(context.Context, *client.Client, string) (any, json.RawMessage, error) {
	return func(ctx context.Context, c *client.Client, ref string) (any, json.RawMessage, error) {
		v, raw, err := inspect(c, ctx, ref)
		if err != nil && raw != nil && client.StatusOf(err) == 0 {
			return nil, raw, nil // the JSON is the daemon's answer; templates fall back to it
		}
		if err != nil {
			return nil, nil, err
		}
		return &v, raw, nil
	}
}

// Inspect prints the objects as an indented JSON array, or one template
// result per object, like docker; for each ref the kinds are tried in
// order, and the missing objects are reported at the end (exit 1).
func Inspect(ctx context.Context, c *client.Client, out io.Writer, refs []string, kinds []InspectKind, format, what string) error {
	var raws []json.RawMessage
	var typed []any
	var missing []string
	for _, ref := range refs {
		v, raw, err := fetchInspect(ctx, c, ref, kinds)
		if err != nil {
			if client.StatusOf(err) != http.StatusNotFound {
				return err
			}
			if len(kinds) == 1 && kinds[0].Missing != nil {
				missing = append(missing, kinds[0].Missing(err))
			} else {
				missing = append(missing, fmt.Sprintf("Error: No such %s: %s", what, ref))
			}
			continue
		}
		raws = append(raws, raw)
		typed = append(typed, v)
	}
	if format == "" {
		if err := WriteJSONArray(out, raws); err != nil {
			return err
		}
	} else {
		for i, raw := range raws {
			if err := ExecInspectTemplate(out, format, typed[i], raw); err != nil {
				return err
			}
		}
	}
	if len(missing) > 0 {
		return &StatusError{Status: strings.Join(missing, "\n"), Code: 1}
	}
	return nil
}

func fetchInspect(ctx context.Context, c *client.Client, ref string, kinds []InspectKind) (any, json.RawMessage, error) {
	var lastErr error
	for _, k := range kinds {
		v, raw, err := k.Fetch(ctx, c, ref)
		if err == nil {
			return v, raw, nil
		}
		lastErr = err
		if client.StatusOf(err) != http.StatusNotFound {
			break
		}
	}
	return nil, nil, lastErr
}
