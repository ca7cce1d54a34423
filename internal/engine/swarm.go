package engine

import (
	"context"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// SwarmBackend is the swarm layer (internal/swarm) as the Engine API
// sees it: /swarm, /nodes, /services, /tasks, /secrets and /configs. The
// HTTP layer answers dockerd's "not a swarm manager" errors itself from
// SwarmInfo, so a backend is only called for those routes while its node
// is an active manager (init and join excepted).
type SwarmBackend interface {
	// SwarmInfo is the Swarm part of /info and /_ping's Swarm header. It
	// must be cheap and never reach the cluster: /_ping calls it.
	SwarmInfo(ctx context.Context) swarm.Info

	SwarmInit(ctx context.Context, req swarm.InitRequest) (nodeID string, err error)
	SwarmJoin(ctx context.Context, req swarm.JoinRequest) error
	SwarmLeave(ctx context.Context, force bool) error
	SwarmInspect(ctx context.Context) (swarm.Swarm, error)
	SwarmUpdate(ctx context.Context, version uint64, spec swarm.Spec, flags SwarmUpdateFlags) error
	SwarmUnlockKey(ctx context.Context) (string, error)

	NodeList(ctx context.Context, f filters.Args) ([]swarm.Node, error)
	NodeInspect(ctx context.Context, id string) (swarm.Node, error)
	NodeUpdate(ctx context.Context, id string, version uint64, spec swarm.NodeSpec) error
	NodeRemove(ctx context.Context, id string, force bool) error

	ServiceList(ctx context.Context, f filters.Args, status bool) ([]swarm.Service, error)
	ServiceInspect(ctx context.Context, id string, insertDefaults bool) (swarm.Service, error)
	ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, auth string) (swarm.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec, opts ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, id string) error
	// ServiceLogs merges the logs of the service's tasks; each message
	// carries the task's attributes for ?details (the docker CLI's prefix).
	ServiceLogs(ctx context.Context, id string, opts LogsOptions) (<-chan SwarmLogMessage, error)

	TaskList(ctx context.Context, f filters.Args) ([]swarm.Task, error)
	TaskInspect(ctx context.Context, id string) (swarm.Task, error)
	TaskLogs(ctx context.Context, id string, opts LogsOptions) (<-chan SwarmLogMessage, error)

	SecretList(ctx context.Context, f filters.Args) ([]swarm.Secret, error)
	SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error)
	SecretInspect(ctx context.Context, id string) (swarm.Secret, error)
	SecretUpdate(ctx context.Context, id string, version uint64, spec swarm.SecretSpec) error
	SecretRemove(ctx context.Context, id string) error

	ConfigList(ctx context.Context, f filters.Args) ([]swarm.Config, error)
	ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error)
	ConfigInspect(ctx context.Context, id string) (swarm.Config, error)
	ConfigUpdate(ctx context.Context, id string, version uint64, spec swarm.ConfigSpec) error
	ConfigRemove(ctx context.Context, id string) error

	// Swarm-scope (overlay) networks, as `stack deploy` creates them.
	SwarmNetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	SwarmNetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error)
	SwarmNetworkInspect(ctx context.Context, ref string) (network.Inspect, error)
	SwarmNetworkRemove(ctx context.Context, ref string) error
}

// SwarmUpdateFlags is POST /swarm/update's query.
type SwarmUpdateFlags struct {
	RotateWorkerToken, RotateManagerToken, RotateManagerUnlockKey bool
}

// ServiceUpdateOptions is POST /services/{id}/update's query and auth.
type ServiceUpdateOptions struct {
	RegistryAuthFrom string // "spec" or "previous-spec"
	Rollback         string // "previous" rolls back to PreviousSpec
	Auth             string // X-Registry-Auth as sent
}

// SwarmLogMessage is one log line of a task with the attributes dockerd
// sends as details (com.docker.swarm.node.id, .service.id, .task.id).
type SwarmLogMessage struct {
	LogMessage
	Attrs []string // "key=value", in order
}
