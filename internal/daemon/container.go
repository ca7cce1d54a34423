package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/monitor"
	"github.com/moby/moby/api/types/container"
)

// State is a container's persisted run state.
type State struct {
	Status     container.ContainerState
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	OOMKilled  bool
	Paused     bool
	// PausedFor names the operation (commit, export) that froze the
	// container for its own sake; empty for a user's pause. A crash in
	// the middle of such an operation leaves nobody to thaw it: the
	// restart does (syncPaused), while a user's pause stays.
	PausedFor  string `json:",omitempty"`
	Restarting bool
	// StoppedByUser keeps restart policies from restarting a container the
	// user stopped (Docker's HasBeenManuallyStopped).
	StoppedByUser bool
	// Health is set while a container with a healthcheck runs.
	Health *container.Health `json:",omitempty"`
}

// Container is one container's record. Fields below mu are guarded by it;
// the record is written to <data-root>/containers/<id>/config.json on every
// state change.
type Container struct {
	ID           string
	Name         string // with the leading "/"
	Created      time.Time
	Path         string
	Args         []string
	Config       *container.Config
	HostConfig   *container.HostConfig
	ImageID      string
	Mounts       []container.MountPoint
	Runtime      string
	RestartCount int
	LogPath      string
	State        State
	// Pod is set for the containers of a Kubernetes pod (CRI front end).
	Pod *engine.PodOptions `json:",omitempty"`
	// Links are the legacy links to other containers (links.go).
	Links []link `json:",omitempty"`
	// BuildStep marks the container of a build's RUN step that the build
	// removes when the step ends; one a crash left is removed at start.
	BuildStep bool `json:",omitempty"`

	mu       sync.Mutex       `json:"-"`
	mon      *monitor.Monitor `json:"-"`
	exitCh   chan struct{}    `json:"-"` // closed and replaced at every exit
	removeCh chan struct{}    `json:"-"` // closed when the record is gone
	pending  []*attachReq     `json:"-"` // attaches opened before start
	removing bool             `json:"-"`
	// prestart is a start prepared ahead (prestart.go), nil if none.
	prestart *preparedStart  `json:"-"`
	execs    map[string]bool `json:"-"`
}

func newContainerRuntimeState(c *Container) {
	c.exitCh = make(chan struct{})
	c.removeCh = make(chan struct{})
	c.execs = make(map[string]bool)
}

// isRunning is running() for a container whose lock the caller does not hold.
func (c *Container) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running()
}

// nameLocked is c.Name for a caller that does not hold c.mu.
func (c *Container) nameLocked() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Name
}

func (c *Container) running() bool {
	return c.State.Status == container.StateRunning || c.State.Status == container.StatePaused
}

// save writes the record atomically. Callers hold c.mu.
func (c *Container) save(dir string) error { return c.write(dir, atomicfile.Write) }

// saveState records a change of run state (started, exited, health): it is
// written on every start and exit, and after a machine crash every
// container is stopped whatever the file says, so it skips the fsyncs.
func (c *Container) saveState(dir string) error { return c.write(dir, atomicfile.WriteNoSync) }

func (c *Container) write(dir string, write func(string, []byte, os.FileMode) error) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return write(filepath.Join(dir, "config.json"), b, 0o600)
}

func loadContainer(dir string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	c := &Container{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	newContainerRuntimeState(c)
	return c, nil
}
