package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

const statsDefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{
	"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsRow is one container's figures, computed like docker's stats.
type statsRow struct {
	container string
	s         container.StatsResponse
}

func (r statsRow) Container() string { return r.container }
func (r statsRow) Name() string      { return strings.TrimPrefix(r.s.Name, "/") }
func (r statsRow) ID() string        { return command.TruncID(r.s.ID) }

func (r statsRow) CPUPerc() string {
	cur, pre := r.s.CPUStats, r.s.PreCPUStats
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(pre.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage) - float64(pre.SystemUsage)
	online := float64(cur.OnlineCPUs)
	if online == 0 {
		online = float64(len(cur.CPUUsage.PercpuUsage))
	}
	pct := 0.0
	if sysDelta > 0 && cpuDelta > 0 {
		pct = cpuDelta / sysDelta * online * 100
	}
	return fmt.Sprintf("%.2f%%", pct)
}

// memUsage excludes the page cache the way docker does (inactive_file).
func (r statsRow) memUsage() float64 {
	m := r.s.MemoryStats
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[k]; ok && v < m.Usage {
			return float64(m.Usage - v)
		}
	}
	return float64(m.Usage)
}

func (r statsRow) MemUsage() string {
	return units.BytesSize(r.memUsage()) + " / " + units.BytesSize(float64(r.s.MemoryStats.Limit))
}

func (r statsRow) MemPerc() string {
	pct := 0.0
	if l := r.s.MemoryStats.Limit; l != 0 {
		pct = r.memUsage() / float64(l) * 100
	}
	return fmt.Sprintf("%.2f%%", pct)
}

func (r statsRow) NetIO() string {
	var rx, tx float64
	for _, n := range r.s.Networks {
		rx += float64(n.RxBytes)
		tx += float64(n.TxBytes)
	}
	return units.HumanSizeWithPrecision(rx, 3) + " / " + units.HumanSizeWithPrecision(tx, 3)
}

func (r statsRow) BlockIO() string {
	var rd, wr float64
	for _, e := range r.s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += float64(e.Value)
		case "write":
			wr += float64(e.Value)
		}
	}
	return units.HumanSizeWithPrecision(rd, 3) + " / " + units.HumanSizeWithPrecision(wr, 3)
}

func (r statsRow) PIDs() string { return fmt.Sprint(r.s.PidsStats.Current) }

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r statsRow) MarshalJSON() ([]byte, error) { return command.MarshalRow(r.fields()) }

func (r statsRow) fields() map[string]any {
	return map[string]any{"Container": r.Container(), "Name": r.Name(), "ID": r.ID(), "CPUPerc": r.CPUPerc(),
		"MemUsage": r.MemUsage(), "MemPerc": r.MemPerc(), "NetIO": r.NetIO(), "BlockIO": r.BlockIO(), "PIDs": r.PIDs()}
}

// StatsOptions are stats' flags; Format "" is docker's table.
type StatsOptions struct {
	All, NoStream, NoTrunc bool
	Format                 string
}

func newStatsCmd(e *Env) *cobra.Command {
	var o StatsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Stats(cmd.Context(), c, e.Streams, o, args)
		}),
	}
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().BoolVar(&o.NoStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

// Stats prints the containers' figures (the running ones when none is
// named) once with NoStream, else redraws them every second until ctx ends.
func Stats(ctx context.Context, c *client.Client, s command.Streams, o StatsOptions, names []string) error {
	if o.Format == "" {
		o.Format = statsDefaultFormat
	}
	if o.NoStream {
		return statsOnce(ctx, c, s, o, names)
	}
	return statsStream(ctx, c, s.Out, o, names)
}

// statsTargets is the argument list, or the (running) containers.
func statsTargets(ctx context.Context, c *client.Client, o StatsOptions, args []string) ([]string, error) {
	if len(args) > 0 {
		return args, nil
	}
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: o.All})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = command.TruncID(s.ID) // shown as .Container, like docker
	}
	return ids, nil
}

func statsOnce(ctx context.Context, c *client.Client, s command.Streams, o StatsOptions, args []string) error {
	targets, err := statsTargets(ctx, c, o, args)
	if err != nil {
		return err
	}
	var rows []any
	failed := false
	for _, t := range targets {
		st, err := statsSample(ctx, c, t)
		if err != nil {
			fmt.Fprintln(s.Err, err)
			failed = true
			continue
		}
		rows = append(rows, statsRow{container: t, s: st})
	}
	if err := (command.Table{Format: o.Format, Headers: statsHeaders}).Render(s.Out, rows); err != nil {
		return err
	}
	if failed {
		return &command.StatusError{Code: 1}
	}
	return nil
}

// statsStream keeps one stats stream per container and redraws the table
// every second, picking up containers that start meanwhile.
func statsStream(ctx context.Context, c *client.Client, out io.Writer, o StatsOptions, args []string) error {
	var mu sync.Mutex
	latest := map[string]statsRow{}
	var order []string
	follow := func(t string) {
		body, err := c.ContainerStats(ctx, t, true)
		if err != nil {
			return
		}
		defer body.Close()
		dec := json.NewDecoder(body)
		for {
			var s container.StatsResponse
			if dec.Decode(&s) != nil {
				mu.Lock()
				delete(latest, t)
				mu.Unlock()
				return
			}
			mu.Lock()
			latest[t] = statsRow{container: t, s: s}
			mu.Unlock()
		}
	}
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		targets, err := statsTargets(ctx, c, o, args)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if !seen[t] {
				seen[t] = true
				order = append(order, t)
				go follow(t)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		mu.Lock()
		var rows []any
		for _, t := range order {
			if r, ok := latest[t]; ok {
				rows = append(rows, r)
			}
		}
		mu.Unlock()
		fmt.Fprint(out, "\033[2J\033[H")
		if err := (command.Table{Format: o.Format, Headers: statsHeaders}).Render(out, rows); err != nil {
			return err
		}
	}
}

// statsSample reads one stats sample of a container.
func statsSample(ctx context.Context, c *client.Client, id string) (container.StatsResponse, error) {
	var s container.StatsResponse
	body, err := c.ContainerStats(ctx, id, false)
	if err != nil {
		return s, err
	}
	defer body.Close()
	if err := json.NewDecoder(body).Decode(&s); err != nil && err != io.EOF {
		return s, fmt.Errorf("decode stats of %s: %w", id, err)
	}
	return s, nil
}
