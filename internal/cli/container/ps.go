package container

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

const psDefaultFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// PsHeaders are the column titles of ps's fields.
var PsHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE",
	"Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "State": "STATE",
	"LocalVolumes": "LOCAL VOLUMES",
}

// psRow is the template context of one `ps` line, with docker's field names.
type psRow struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

func (r psRow) ID() string {
	if r.trunc {
		return command.TruncID(r.c.ID)
	}
	return r.c.ID
}

func (r psRow) Image() string {
	img := r.c.Image
	if r.trunc && strings.HasPrefix(img, "sha256:") {
		return command.TruncID(img)
	}
	return img
}

func (r psRow) Command() string {
	cmd := r.c.Command
	if r.trunc {
		cmd = command.Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

func (r psRow) CreatedAt() string { return time.Unix(r.c.Created, 0).String() }
func (r psRow) RunningFor() string {
	return command.HumanDuration(r.now.Sub(time.Unix(r.c.Created, 0))) + " ago"
}
func (r psRow) Status() string { return r.c.Status }
func (r psRow) State() string  { return string(r.c.State) }
func (r psRow) Ports() string  { return DisplayPorts(r.c.Ports) }

func (r psRow) Names() string {
	var names []string
	for _, n := range r.c.Names {
		n = strings.TrimPrefix(n, "/")
		if r.trunc && strings.Contains(n, "/") {
			continue // a link alias, shown only with --no-trunc
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func (r psRow) Size() string {
	s := command.HumanSize(r.c.SizeRw)
	if r.c.SizeRootFs > 0 {
		s += fmt.Sprintf(" (virtual %s)", command.HumanSize(r.c.SizeRootFs))
	}
	return s
}

func (r psRow) Labels() string { return JoinLabels(r.c.Labels) }

// Label returns one label's value.
func (r psRow) Label(name string) string { return r.c.Labels[name] }

func (r psRow) Mounts() string {
	var ms []string
	for _, m := range r.c.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if r.trunc && len(n) > 15 && m.Name != "" {
			n = command.Ellipsis(n, 15)
		}
		ms = append(ms, n)
	}
	return strings.Join(ms, ",")
}

func (r psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

func (r psRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	var ns []string
	for n := range r.c.NetworkSettings.Networks {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ",")
}

// Field is a plain field's value ({{.ID}}), for command.Table's fast path.
func (r psRow) Field(name string) (string, bool) {
	switch name {
	case "ID":
		return r.ID(), true
	case "Image":
		return r.Image(), true
	case "Command":
		return r.Command(), true
	case "CreatedAt":
		return r.CreatedAt(), true
	case "RunningFor":
		return r.RunningFor(), true
	case "Status":
		return r.Status(), true
	case "State":
		return r.State(), true
	case "Ports":
		return r.Ports(), true
	case "Names":
		return r.Names(), true
	case "Size":
		return r.Size(), true
	case "Labels":
		return r.Labels(), true
	case "Mounts":
		return r.Mounts(), true
	case "Networks":
		return r.Networks(), true
	case "LocalVolumes":
		return r.LocalVolumes(), true
	}
	return "", false
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r psRow) MarshalJSON() ([]byte, error) { return command.MarshalRow(r.fields()) }

func (r psRow) fields() map[string]any {
	return map[string]any{
		"ID": r.ID(), "Image": r.Image(), "Command": r.Command(), "CreatedAt": r.CreatedAt(),
		"RunningFor": r.RunningFor(), "Status": r.Status(), "State": r.State(), "Ports": r.Ports(),
		"Names": r.Names(), "Size": r.Size(), "Labels": r.Labels(), "Mounts": r.Mounts(),
		"Networks": r.Networks(), "LocalVolumes": r.LocalVolumes(), "Platform": nil,
	}
}

// JoinLabels is labels as "k=v,k2=v2", sorted.
func JoinLabels(m map[string]string) string {
	var ls []string
	for k, v := range m {
		ls = append(ls, k+"="+v)
	}
	sort.Strings(ls)
	return strings.Join(ls, ",")
}

// DisplayPorts renders ports like docker: ranges of consecutive ports whose
// host port equals the container port are merged ("0.0.0.0:80-81->80-81/tcp").
func DisplayPorts(ports []container.PortSummary) string {
	ps := append([]container.PortSummary(nil), ports...)
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if ipStr(a) != ipStr(b) {
			return ipStr(a) < ipStr(b)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	var order []string
	open := map[string]*portGroup{}
	var out, mapped []string
	for _, p := range ps {
		ip := ipStr(p)
		if ip != "" && p.PublicPort != p.PrivatePort {
			mapped = append(mapped, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(ip, strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
			continue
		}
		key := ip + "/" + p.Type
		s := open[key]
		switch {
		case s == nil:
			open[key] = &portGroup{ip, p.Type, p.PrivatePort, p.PrivatePort}
			order = append(order, key)
		case p.PrivatePort == s.hi+1:
			s.hi = p.PrivatePort
		default:
			out = append(out, s.String())
			open[key] = &portGroup{ip, p.Type, p.PrivatePort, p.PrivatePort}
		}
	}
	for _, k := range order {
		out = append(out, open[k].String())
	}
	return strings.Join(append(out, mapped...), ", ")
}

func ipStr(p container.PortSummary) string {
	if !p.IP.IsValid() {
		return ""
	}
	return p.IP.String()
}

// portGroup is a run of consecutive container ports on one ip/protocol.
type portGroup struct {
	ip, proto string
	lo, hi    uint16
}

func (g *portGroup) String() string {
	ports := strconv.Itoa(int(g.lo))
	if g.hi != g.lo {
		ports += "-" + strconv.Itoa(int(g.hi))
	}
	if g.ip != "" {
		ports = net.JoinHostPort(g.ip, ports) + "->" + ports
	}
	return ports + "/" + g.proto
}

// PsOptions are ps's flags; Last -1 is no limit.
type PsOptions struct {
	All, Quiet, Latest, Size, NoTrunc bool
	Last                              int
	Format                            string
	Filters                           []string
}

func newPsCmd(e *Env) *cobra.Command {
	var o PsOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list", "ps"},
		Short:   "List containers",
		Args:    command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Ps(cmd.Context(), c, e.Out, o, time.Now())
		}),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.All, "all", "a", false, "Show all containers (default shows just running)")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display container IDs")
	fs.BoolVarP(&o.Latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fs.BoolVarP(&o.Size, "size", "s", false, "Display total file sizes")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	fs.IntVarP(&o.Last, "last", "n", -1, "Show n last created containers (includes all states)")
	fs.StringVar(&o.Format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&o.Filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// Ps lists the containers as docker ps does; now is the clock "CREATED"
// counts from.
func Ps(ctx context.Context, c *client.Client, out io.Writer, o PsOptions, now time.Time) error {
	var list []psWire
	if err := c.ContainerListInto(ctx, o.listOptions(), &list); err != nil {
		return err
	}
	rows := make([]any, len(list))
	for i := range list {
		rows[i] = psRow{c: list[i].summary(), trunc: !o.NoTrunc, now: now}
	}
	return command.Table{Format: psFormat(o.Format, o.Quiet, o.Size), Headers: PsHeaders}.Render(out, rows)
}

// psWire is what ps shows of an entry of GET /containers/json. Decoding
// only this lets the decoder skip the rest (each network's endpoint
// settings, the host config, health), most of the answer's bytes and
// nearly all of its allocations: decoding was half of the CLI's CPU time
// for `ps -a` over 1000 containers.
type psWire struct {
	ID                 string `json:"Id"`
	Names              []string
	Image, Command     string
	Created            int64
	Ports              []container.PortSummary
	SizeRw, SizeRootFs int64
	Labels             map[string]string
	State              container.ContainerState
	Status             string
	NetworkSettings    *struct {
		Networks map[string]struct{} // the names; their settings are skipped
	}
	Mounts []struct{ Name, Source, Driver string }
}

// summary is w as the API type psRow reads.
func (w *psWire) summary() container.Summary {
	c := container.Summary{ID: w.ID, Names: w.Names, Image: w.Image, Command: w.Command, Created: w.Created,
		Ports: w.Ports, SizeRw: w.SizeRw, SizeRootFs: w.SizeRootFs, Labels: w.Labels, State: w.State, Status: w.Status}
	if w.NetworkSettings != nil {
		nets := make(map[string]*network.EndpointSettings, len(w.NetworkSettings.Networks))
		for n := range w.NetworkSettings.Networks {
			nets[n] = nil
		}
		c.NetworkSettings = &container.NetworkSettingsSummary{Networks: nets}
	}
	if len(w.Mounts) > 0 {
		c.Mounts = make([]container.MountPoint, len(w.Mounts))
		for i, m := range w.Mounts {
			c.Mounts[i] = container.MountPoint{Name: m.Name, Source: m.Source, Driver: m.Driver}
		}
	}
	return c
}

// listOptions is the list query ps's flags ask for.
func (o PsOptions) listOptions() client.ContainerListOptions {
	opts := client.ContainerListOptions{Filters: client.ParseFilters(o.Filters), All: o.All || o.Latest || o.Last > 0}
	opts.Limit = o.Last
	if o.Latest {
		opts.Limit = 1
	}
	// docker also asks for sizes when a custom template reads them.
	opts.Size = o.Size || (o.Format != "json" && (strings.Contains(o.Format, ".Size") || strings.Contains(o.Format, "json .")))
	return opts
}

func psFormat(format string, quiet, size bool) string {
	switch {
	case quiet:
		return "{{.ID}}"
	case format == "" || format == "table":
		if size {
			return psDefaultFormat + "\t{{.Size}}"
		}
		return psDefaultFormat
	}
	return format
}

// PsRow is the template context of one ps line (system df -v lists
// containers with it); trunc shortens IDs, commands and names as ps does.
func PsRow(c container.Summary, trunc bool, now time.Time) any {
	return psRow{c: c, trunc: trunc, now: now}
}
