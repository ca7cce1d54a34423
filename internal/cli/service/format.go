package service

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/swarm"
)

// DefaultListFormat is `service ls`'s table.
const DefaultListFormat = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"

var listHeaders = map[string]string{
	"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS",
}

// listFormat picks the format as docker does for "", "table" and "raw".
func listFormat(format string, quiet bool) string {
	switch format {
	case "", "table":
		if quiet {
			return "{{.ID}}"
		}
		return DefaultListFormat
	case "raw":
		if quiet {
			return `id: {{.ID}}`
		}
		return `id: {{.ID}}\nname: {{.Name}}\nmode: {{.Mode}}\nreplicas: {{.Replicas}}\nimage: {{.Image}}\nports: {{.Ports}}\n`
	}
	return format
}

// WriteList prints services as `service ls` and `stack services` do,
// sorted by name.
func WriteList(w io.Writer, services []swarm.Service, format string, quiet bool) error {
	sort.SliceStable(services, func(i, j int) bool { return command.NaturalLess(services[i].Spec.Name, services[j].Spec.Name) })
	rows := make([]any, len(services))
	for i, s := range services {
		rows[i] = serviceRow{s}
	}
	return command.Table{Format: listFormat(format, quiet), Headers: listHeaders}.Render(w, rows)
}

// serviceRow is one line of `service ls`, with docker's fields.
type serviceRow struct{ s swarm.Service }

func (r serviceRow) ID() string   { return command.TruncID(r.s.ID) }
func (r serviceRow) Name() string { return r.s.Spec.Name }

func (r serviceRow) Mode() string { return modeName(r.s.Spec.Mode) }

func modeName(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.Replicated != nil:
		return "replicated"
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	}
	return ""
}

func (r serviceRow) Replicas() string {
	var running, desired, completed uint64
	if st := r.s.ServiceStatus; st != nil {
		running, desired, completed = st.RunningTasks, st.DesiredTasks, st.CompletedTasks
	}
	m := r.s.Spec.Mode
	switch {
	case m.ReplicatedJob != nil:
		var total uint64
		if m.ReplicatedJob.TotalCompletions != nil {
			total = *m.ReplicatedJob.TotalCompletions
		}
		return fmt.Sprintf("%d/%d (%d/%d completed)", running, desired, completed, total)
	case m.GlobalJob != nil:
		return fmt.Sprintf("%d/%d (%d/%d completed)", running, desired, completed, desired+completed)
	}
	if p := r.s.Spec.TaskTemplate.Placement; m.Replicated != nil && p != nil && p.MaxReplicas > 0 {
		return fmt.Sprintf("%d/%d (max %d per node)", running, desired, p.MaxReplicas)
	}
	return fmt.Sprintf("%d/%d", running, desired)
}

func (r serviceRow) Image() string {
	if r.s.Spec.TaskTemplate.ContainerSpec == nil {
		return ""
	}
	return displayImage(r.s.Spec.TaskTemplate.ContainerSpec.Image)
}

// displayImage drops a digest from a tagged reference, as docker shows
// service images.
func displayImage(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	if nt, ok := ref.(reference.NamedTagged); ok {
		if t, err := reference.WithTag(reference.TrimNamed(nt), nt.Tag()); err == nil {
			return reference.FamiliarString(t)
		}
	}
	return image
}

// Ports lists the ingress ports, consecutive ones grouped into ranges
// ("*:80-81->80-81/tcp") as docker groups them.
func (r serviceRow) Ports() string {
	ports := append([]swarm.PortConfig(nil), r.s.Endpoint.Ports...)
	sort.SliceStable(ports, func(i, j int) bool {
		if ports[i].Protocol == ports[j].Protocol {
			return ports[i].PublishedPort < ports[j].PublishedPort
		}
		return ports[i].Protocol < ports[j].Protocol
	})
	type span struct {
		pStart, pEnd, tStart, tEnd uint32
		proto                      string
	}
	str := func(s span) string {
		pub, tgt := strconv.FormatUint(uint64(s.pStart), 10), strconv.FormatUint(uint64(s.tStart), 10)
		if s.pEnd > s.pStart {
			pub = fmt.Sprintf("%d-%d", s.pStart, s.pEnd)
		}
		if s.tEnd > s.tStart {
			tgt = fmt.Sprintf("%d-%d", s.tStart, s.tEnd)
		}
		return fmt.Sprintf("*:%s->%s/%s", pub, tgt, s.proto)
	}
	var out []string
	var cur span
	for _, p := range ports {
		if p.PublishMode != swarm.PortConfigPublishModeIngress {
			continue
		}
		isRange := cur.tEnd != cur.tStart
		if string(p.Protocol) != cur.proto || p.PublishedPort-cur.pEnd > 1 || p.TargetPort-cur.tEnd > 1 || isRange && p.TargetPort <= cur.tEnd {
			if cur.pStart > 0 {
				out = append(out, str(cur))
			}
			cur = span{p.PublishedPort, p.PublishedPort, p.TargetPort, p.TargetPort, string(p.Protocol)}
			continue
		}
		cur.pEnd, cur.tEnd = p.PublishedPort, p.TargetPort
	}
	if cur.pStart > 0 {
		out = append(out, str(cur))
	}
	return strings.Join(out, ", ")
}

func (r serviceRow) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"ID": r.ID(), "Name": r.Name(), "Mode": r.Mode(),
		"Replicas": r.Replicas(), "Image": r.Image(), "Ports": r.Ports()})
}

// DefaultTaskFormat is the table of `service ps`, `stack ps` and `node ps`.
const DefaultTaskFormat = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}"

var taskHeaders = map[string]string{
	"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
	"CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS",
}

func taskFormat(format string, quiet bool) string {
	switch format {
	case "", "table":
		if quiet {
			return "{{.ID}}"
		}
		return DefaultTaskFormat
	case "raw":
		if quiet {
			return `id: {{.ID}}`
		}
		return `id: {{.ID}}\nname: {{.Name}}\nimage: {{.Image}}\nnode: {{.Node}}\ndesired_state: {{.DesiredState}}\ncurrent_state: {{.CurrentState}}\nerror: {{.Error}}\nports: {{.Ports}}\n`
	}
	return format
}

// TaskOptions are the display flags every task list takes.
type TaskOptions struct {
	NoResolve, NoTrunc, Quiet bool
	Format                    string
}

// resolver maps service and node IDs to names, once each, as docker's
// idresolver does (a failed lookup shows the ID).
type resolver struct {
	c        *client.Client
	off      bool
	services map[string]string
	nodes    map[string]string
}

func (r *resolver) service(ctx context.Context, id string) string {
	if r.off {
		return id
	}
	if v, ok := r.services[id]; ok {
		return v
	}
	name := id
	if s, _, err := r.c.ServiceInspect(ctx, id, false); err == nil {
		name = s.Spec.Name
	}
	r.services[id] = name
	return name
}

func (r *resolver) node(ctx context.Context, id string) string {
	if r.off {
		return id
	}
	if v, ok := r.nodes[id]; ok {
		return v
	}
	name := id
	if n, _, err := r.c.NodeInspect(ctx, id); err == nil {
		switch {
		case n.Spec.Name != "":
			name = n.Spec.Name
		case n.Description.Hostname != "":
			name = n.Description.Hostname
		}
	}
	r.nodes[id] = name
	return name
}

// PrintTasks prints tasks as docker's task lists do: named SERVICE.SLOT
// (SERVICE.NODE for global tasks), sorted by name then newest first, the
// older tasks of a slot indented under it in a table.
func PrintTasks(ctx context.Context, c *client.Client, w io.Writer, tasks []swarm.Task, o TaskOptions) error {
	format := taskFormat(o.Format, o.Quiet)
	if o.Quiet {
		o.NoTrunc = true
	}
	res := &resolver{c: c, off: o.NoResolve, services: map[string]string{}, nodes: map[string]string{}}
	type named struct {
		t    swarm.Task
		name string
	}
	list := make([]named, len(tasks))
	for i, t := range tasks {
		svc := res.service(ctx, t.ServiceID)
		if t.Slot != 0 {
			list[i] = named{t, fmt.Sprintf("%v.%v", svc, t.Slot)}
		} else {
			list[i] = named{t, fmt.Sprintf("%v.%v", svc, t.NodeID)}
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].name != list[j].name {
			return command.NaturalLess(list[i].name, list[j].name)
		}
		return list[j].t.CreatedAt.Before(list[i].t.CreatedAt)
	})
	indent := ""
	if strings.HasPrefix(format, "table") {
		indent = ` \_ `
	}
	rows := make([]any, len(list))
	prev := ""
	now := time.Now()
	for i, n := range list {
		name := n.name
		if name == prev {
			name = indent + name
		}
		prev = n.name
		rows[i] = taskRow{t: n.t, name: name, node: res.node(ctx, n.t.NodeID), trunc: !o.NoTrunc, now: now}
	}
	return command.Table{Format: format, Headers: taskHeaders}.Render(w, rows)
}

// taskRow is one line of a task list.
type taskRow struct {
	t     swarm.Task
	name  string
	node  string
	trunc bool
	now   time.Time
}

func (r taskRow) ID() string {
	if r.trunc {
		return command.TruncID(r.t.ID)
	}
	return r.t.ID
}

func (r taskRow) Name() string { return r.name }
func (r taskRow) Node() string { return r.node }

func (r taskRow) Image() string {
	if r.t.Spec.ContainerSpec == nil {
		return ""
	}
	if r.trunc {
		return displayImage(r.t.Spec.ContainerSpec.Image)
	}
	return r.t.Spec.ContainerSpec.Image
}

func (r taskRow) DesiredState() string { return command.PrettyPrint(string(r.t.DesiredState)) }

func (r taskRow) CurrentState() string {
	return fmt.Sprintf("%s %s ago", command.PrettyPrint(string(r.t.Status.State)),
		strings.ToLower(command.HumanDuration(r.now.Sub(r.t.Status.Timestamp))))
}

func (r taskRow) Error() string {
	e := r.t.Status.Err
	if r.trunc {
		e = command.Ellipsis(e, 30)
	}
	if e != "" {
		e = `"` + e + `"`
	}
	return e
}

func (r taskRow) Ports() string {
	var out []string
	for _, p := range r.t.Status.PortStatus.Ports {
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(out, ",")
}

func (r taskRow) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"ID": r.ID(), "Name": r.Name(), "Image": r.Image(), "Node": r.Node(),
		"DesiredState": r.DesiredState(), "CurrentState": r.CurrentState(), "Error": r.Error(), "Ports": r.Ports()})
}
