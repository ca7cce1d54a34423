package daemon

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"
)

// zeroTime is how dockerd prints a time that never happened.
const zeroTime = "0001-01-01T00:00:00Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ContainerInspect renders the record like dockerd's GET /containers/{id}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, name string, size bool) (*engine.ContainerInspectResult, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := d.containerDir(c.ID)
	hc := *c.HostConfig
	// The live link table, in dockerd's "/child:/parent/alias" form.
	hc.Links = d.hostConfigLinks(c)
	cfg := *c.Config
	resp := &container.InspectResponse{
		ID:             c.ID,
		Created:        fmtTime(c.Created),
		Path:           c.Path,
		Args:           nonNil(c.Args),
		State:          c.inspectState(),
		Image:          c.ImageID,
		ResolvConfPath: dir + "/resolv.conf",
		HostnamePath:   dir + "/hostname",
		HostsPath:      dir + "/hosts",
		LogPath:        c.LogPath,
		Name:           c.Name,
		RestartCount:   c.RestartCount,
		Driver:         "overlay2",
		Platform:       "linux",
		ExecIDs:        d.execs.forContainer(c.ID),
		HostConfig:     &hc,
		GraphDriver: &storage.DriverData{Name: "overlay2", Data: map[string]string{
			"MergedDir": d.cfg.DataRoot + "/overlay/" + c.ID + "/merged",
			"UpperDir":  d.cfg.DataRoot + "/overlay/" + c.ID + "/diff",
			"WorkDir":   d.cfg.DataRoot + "/overlay/" + c.ID + "/work",
		}},
		Mounts:          nonNilMounts(c.Mounts),
		Config:          &cfg,
		NetworkSettings: d.networkSettings(c),
	}
	if size {
		rw, _ := d.images.RWSize(ctx, c.ID)
		resp.SizeRw = &rw
		rootfs := rw
		if img, err := d.images.Resolve(ctx, c.ImageID); err == nil {
			rootfs += img.Size
		}
		resp.SizeRootFs = &rootfs
	}
	out := &engine.ContainerInspectResult{InspectResponse: resp}
	if nm := container.NetworkMode(hc.NetworkMode); nm.IsBridge() || nm.IsUserDefined() {
		// dockerd 28 reports the address asked for on the network-mode's
		// network, whichever API version created the container.
		out.MacAddress = d.networks.RequestedMAC(c.ID, nm.NetworkName())
	}
	return out, nil
}

func (c *Container) inspectState() *container.State {
	return &container.State{
		Status:     c.State.Status,
		Running:    c.running(),
		Paused:     c.State.Paused,
		Restarting: c.State.Restarting,
		OOMKilled:  c.State.OOMKilled,
		Dead:       c.State.Status == container.StateDead,
		Pid:        c.State.Pid,
		ExitCode:   c.State.ExitCode,
		Error:      c.State.Error,
		StartedAt:  fmtTime(c.State.StartedAt),
		FinishedAt: fmtTime(c.State.FinishedAt),
		Health:     cloneHealth(c.State.Health),
	}
}

func cloneHealth(h *container.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := *h
	out.Log = append([]*container.HealthcheckResult{}, h.Log...)
	return &out
}

// healthSuffix is ps's " (healthy)" / " (health: starting)" / " (unhealthy)".
func (c *Container) healthSuffix() string {
	if c.State.Health == nil {
		return ""
	}
	if c.State.Health.Status == container.Starting {
		return " (health: starting)"
	}
	return " (" + string(c.State.Health.Status) + ")"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMounts(m []container.MountPoint) []container.MountPoint {
	if m == nil {
		return []container.MountPoint{}
	}
	return m
}

// statusString is the human "Up 3 seconds" / "Exited (0) 2 seconds ago" column.
func (c *Container) statusString() string {
	now := time.Now()
	switch {
	case c.State.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.State.ExitCode, units.HumanDuration(now.Sub(c.State.FinishedAt)))
	case c.State.Paused:
		return "Up " + units.HumanDuration(now.Sub(c.State.StartedAt)) + " (Paused)"
	case c.running():
		return "Up " + units.HumanDuration(now.Sub(c.State.StartedAt)) + c.healthSuffix()
	case c.removing:
		return "Removal In Progress"
	case c.State.Status == container.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.State.ExitCode, units.HumanDuration(now.Sub(c.State.FinishedAt)))
	}
	return "Created"
}

var psFilters = map[string]bool{"name": true, "status": true, "label": true, "id": true, "ancestor": true,
	"exited": true, "before": true, "since": true, "health": true, "volume": true, "network": true,
	"publish": true, "expose": true, "isolation": true, "is-task": true}

// ContainerList implements GET /containers/json with Docker's filters.
func (d *Daemon) ContainerList(ctx context.Context, opts engine.ContainerListOptions) ([]container.Summary, error) {
	for k := range opts.Filters {
		if !psFilters[k] {
			return nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	m, err := d.newPsMatcher(ctx, opts.Filters)
	if err != nil {
		return nil, err
	}
	all := d.containers.list()
	out := []container.Summary{}
	for _, c := range all {
		if m.beforeID != "" {
			if c.ID == m.beforeID {
				m.beforeID = ""
			}
			continue
		}
		if m.sinceID != "" && c.ID == m.sinceID {
			break
		}
		c.mu.Lock()
		ok := (opts.All || opts.Limit > 0 || c.running() || len(opts.Filters) > 0 && m.wantsNonRunning()) && m.match(c)
		var s container.Summary
		if ok {
			s = d.summary(ctx, c, opts.Size)
		}
		c.mu.Unlock()
		if !ok {
			continue
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

func (d *Daemon) summary(ctx context.Context, c *Container, size bool) container.Summary {
	s := container.Summary{
		ID:      c.ID,
		Names:   d.linkNames(c),
		Image:   c.Config.Image,
		ImageID: c.ImageID,
		Command: strings.TrimSpace(c.Path + " " + strings.Join(c.Args, " ")),
		Created: c.Created.Unix(),
		Ports:   []container.PortSummary{},
		Labels:  c.Config.Labels,
		State:   c.State.Status,
		Status:  c.statusString(),
		Mounts:  nonNilMounts(c.Mounts),
	}
	if c.removing {
		s.State = container.StateRemoving
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	ns := d.networkSettings(c)
	s.Ports = portSummaries(ns)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: ns.Networks}
	if size {
		s.SizeRw, _ = d.images.RWSize(ctx, c.ID)
		s.SizeRootFs = s.SizeRw
		if img, err := d.images.Resolve(ctx, c.ImageID); err == nil {
			s.SizeRootFs += img.Size
		}
	}
	return s
}

type psMatcher struct {
	f                 filters.Args
	beforeID, sinceID string
	ancestors         map[string]bool // image IDs
	names             []*regexp.Regexp
	exited            map[int]bool
}

func (d *Daemon) newPsMatcher(ctx context.Context, f filters.Args) (*psMatcher, error) {
	m := &psMatcher{f: f}
	for v := range f["before"] {
		c, err := d.containers.get(v)
		if err != nil {
			return nil, errdefs.Invalid(err)
		}
		m.beforeID = c.ID
	}
	for v := range f["since"] {
		c, err := d.containers.get(v)
		if err != nil {
			return nil, errdefs.Invalid(err)
		}
		m.sinceID = c.ID
	}
	for v := range f["name"] {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, errdefs.Invalidf("invalid name filter %q: %v", v, err)
		}
		m.names = append(m.names, re)
	}
	if len(f["exited"]) > 0 {
		m.exited = map[int]bool{}
		for v := range f["exited"] {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, errdefs.Invalidf("invalid filter 'exited=%s'", v)
			}
			m.exited[n] = true
		}
	}
	for v := range f["status"] {
		switch container.ContainerState(v) {
		case container.StateCreated, container.StateRunning, container.StatePaused, container.StateRestarting,
			container.StateRemoving, container.StateExited, container.StateDead:
		default:
			return nil, errdefs.Invalidf("invalid filter 'status=%s'", v)
		}
	}
	if len(f["ancestor"]) > 0 {
		m.ancestors = map[string]bool{}
		for v := range f["ancestor"] {
			if img, err := d.images.Resolve(ctx, v); err == nil {
				m.ancestors[img.ID.String()] = true
			}
		}
	}
	return m, nil
}

// wantsNonRunning: a status/exited filter implies --all, as in dockerd.
func (m *psMatcher) wantsNonRunning() bool {
	return len(m.f["status"]) > 0 || len(m.f["exited"]) > 0
}

func (m *psMatcher) match(c *Container) bool {
	f := m.f
	if len(m.names) > 0 && !anyRegexp(m.names, strings.TrimPrefix(c.Name, "/")) {
		return false
	}
	if vs := f["id"]; len(vs) > 0 && !anyPrefix(vs, c.ID) {
		return false
	}
	if vs := f["status"]; len(vs) > 0 {
		st := string(c.State.Status)
		if c.State.Paused {
			st = string(container.StatePaused)
		}
		if !vs[st] {
			return false
		}
	}
	if m.exited != nil && (c.State.Status != container.StateExited || !m.exited[c.State.ExitCode]) {
		return false
	}
	if m.ancestors != nil && !m.ancestors[c.ImageID] {
		return false
	}
	if vs := f["health"]; len(vs) > 0 {
		h := string(container.NoHealthcheck)
		if c.State.Health != nil {
			h = string(c.State.Health.Status)
		}
		if !vs[h] {
			return false
		}
	}
	return matchLabels(f["label"], c.Config.Labels)
}

func anyRegexp(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func anyPrefix(vs map[string]bool, id string) bool {
	for v := range vs {
		if strings.HasPrefix(id, v) {
			return true
		}
	}
	return false
}

// matchLabels requires every "k" or "k=v" filter to hold.
func matchLabels(want map[string]bool, labels map[string]string) bool {
	for l := range want {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}
