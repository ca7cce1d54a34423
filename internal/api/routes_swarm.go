package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/swarm"
)

// dockerd's answers for swarm calls on a node that cannot serve them
// (checked against dockerd 20.10: 503 and these exact texts).
var (
	errNotSwarmManager = errdefs.Unavailable(errors.New(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`))
	errNotInSwarm      = errdefs.Unavailable(errors.New("This node is not part of a swarm"))
	errWorkerNode      = errdefs.Unavailable(errors.New("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."))
	errAlreadyInSwarm  = errdefs.Unavailable(errors.New(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`))
)

func (s *Server) registerSwarm(rt *router) {
	rt.get("/swarm", s.forwardSwarm(s.swarmInspect, false))
	rt.post("/swarm/init", s.forwardSwarm(s.swarmInit, true))
	rt.post("/swarm/join", s.forwardSwarm(s.swarmJoin, true))
	rt.post("/swarm/leave", s.forwardSwarm(s.swarmLeave, false))
	rt.post("/swarm/update", s.forwardSwarm(s.swarmUpdate, false))
	rt.get("/swarm/unlockkey", s.forwardSwarm(s.swarmUnlockKey, false))
	rt.post("/swarm/unlock", s.forwardSwarm(s.swarmUnlock, false))

	rt.get("/nodes", s.forwardSwarm(swarmList(s, engine.SwarmBackend.NodeList), false))
	rt.get("/nodes/{id}", s.forwardSwarm(swarmGet(s, engine.SwarmBackend.NodeInspect), false))
	rt.del("/nodes/{id}", s.forwardSwarm(s.nodeRemove, false))
	rt.post("/nodes/{id}/update", s.forwardSwarm(swarmSpecUpdate(s, func(r *http.Request) (uint64, error) { return versionValue(r, "node") },
		engine.SwarmBackend.NodeUpdate), false))

	rt.get("/services", s.forwardSwarm(s.serviceList, false))
	rt.post("/services/create", s.forwardSwarm(s.serviceCreate, false))
	rt.get("/services/{id}", s.forwardSwarm(s.serviceInspect, false))
	rt.del("/services/{id}", s.forwardSwarm(s.serviceRemove, false))
	rt.post("/services/{id}/update", s.forwardSwarm(s.serviceUpdate, false))
	rt.get("/services/{id}/logs", s.forwardSwarm(s.serviceLogs, false))

	rt.get("/tasks", s.forwardSwarm(swarmList(s, engine.SwarmBackend.TaskList), false))
	rt.get("/tasks/{id}", s.forwardSwarm(swarmGet(s, engine.SwarmBackend.TaskInspect), false))
	rt.get("/tasks/{id}/logs", s.forwardSwarm(s.taskLogs, false))

	registerRefRoutes(s, rt, refRoutes[swarm.SecretSpec, swarm.Secret]{
		kind: "secret", list: engine.SwarmBackend.SecretList, create: engine.SwarmBackend.SecretCreate,
		inspect: engine.SwarmBackend.SecretInspect, update: engine.SwarmBackend.SecretUpdate, remove: engine.SwarmBackend.SecretRemove,
	})
	registerRefRoutes(s, rt, refRoutes[swarm.ConfigSpec, swarm.Config]{
		kind: "config", list: engine.SwarmBackend.ConfigList, create: engine.SwarmBackend.ConfigCreate,
		inspect: engine.SwarmBackend.ConfigInspect, update: engine.SwarmBackend.ConfigUpdate, remove: engine.SwarmBackend.ConfigRemove,
	})
}

// swarmInfo is the node's swarm state; a daemon without a swarm front end
// is an inactive node.
func (s *Server) swarmInfo(ctx context.Context) swarm.Info {
	if s.be.Swarm == nil && s.swarmProc != nil {
		return s.swarmProc.SwarmInfo(ctx)
	}
	if s.be.Swarm == nil {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	return s.be.Swarm.SwarmInfo(ctx)
}

// manager returns the backend when this node is an active manager, else
// dockerd's 503.
func (s *Server) manager(ctx context.Context) (engine.SwarmBackend, error) {
	if s.be.Swarm == nil {
		return nil, errNotSwarmManager
	}
	if i := s.be.Swarm.SwarmInfo(ctx); i.LocalNodeState != swarm.LocalNodeStateActive {
		return nil, errNotSwarmManager
	} else if !i.ControlAvailable {
		return nil, errWorkerNode
	}
	return s.be.Swarm, nil
}

// pingSwarmHeader is /_ping's Swarm header: "inactive", "pending",
// "error", "locked", "active/worker" or "active/manager".
func pingSwarmHeader(i swarm.Info) string {
	if i.LocalNodeState == swarm.LocalNodeStateActive {
		if i.ControlAvailable {
			return "active/manager"
		}
		return "active/worker"
	}
	if i.LocalNodeState == "" {
		return string(swarm.LocalNodeStateInactive)
	}
	return string(i.LocalNodeState)
}

// versionValue parses ?version= as dockerd does before anything else, so
// a missing version is a 400 even on a node without a swarm.
func versionValue(r *http.Request, kind string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, errdefs.Invalid(fmt.Errorf("invalid %s version '%s': %w", kind, raw, err))
	}
	return v, nil
}

func (s *Server) swarmInspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	sw, err := b.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sw)
}

// enteringSwarm decodes the body of an init or a join into req and checks
// that this node can enter a swarm: 501 on a daemon without swarm mode,
// dockerd's 503 on a node already in one.
func (s *Server) enteringSwarm(ctx context.Context, r *http.Request, req any) error {
	if err := decodeJSON(r, req, false); err != nil {
		return err
	}
	if s.be.Swarm == nil {
		return errdefs.NotImplemented(errors.New("swarm mode is not available on this daemon"))
	}
	if s.swarmInfo(ctx).LocalNodeState != swarm.LocalNodeStateInactive {
		return errAlreadyInSwarm
	}
	return nil
}

func (s *Server) swarmInit(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req swarm.InitRequest
	if err := s.enteringSwarm(ctx, r, &req); err != nil {
		return err
	}
	id, err := s.be.Swarm.SwarmInit(ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, id)
}

func (s *Server) swarmJoin(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req swarm.JoinRequest
	if err := s.enteringSwarm(ctx, r, &req); err != nil {
		return err
	}
	return emptyOK(w, s.be.Swarm.SwarmJoin(ctx, req))
}

func (s *Server) swarmLeave(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	force, err := boolValue(r, "force")
	if err != nil {
		return err
	}
	if s.be.Swarm == nil || s.swarmInfo(ctx).LocalNodeState == swarm.LocalNodeStateInactive {
		return errNotInSwarm
	}
	return emptyOK(w, s.be.Swarm.SwarmLeave(ctx, force))
}

func (s *Server) swarmUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	version, err := versionValue(r, "swarm")
	if err != nil {
		return err
	}
	var spec swarm.Spec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	var flags engine.SwarmUpdateFlags
	for key, dst := range map[string]*bool{"rotateWorkerToken": &flags.RotateWorkerToken, "rotateManagerToken": &flags.RotateManagerToken, "rotateManagerUnlockKey": &flags.RotateManagerUnlockKey} {
		if *dst, err = boolValue(r, key); err != nil {
			return err
		}
	}
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	return emptyOK(w, b.SwarmUpdate(ctx, version, spec, flags))
}

func (s *Server) swarmUnlockKey(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	key, err := b.SwarmUnlockKey(ctx)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: key})
}

// swarmUnlock: a Kubernetes-backed swarm is never locked (its keys live in
// the cluster's PKI), so an unlock only ever finds nothing to do.
func (s *Server) swarmUnlock(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if _, err := s.manager(ctx); err != nil {
		return err
	}
	var req swarm.UnlockRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	return errdefs.Invalid(errors.New("swarm is not locked"))
}

func (s *Server) nodeRemove(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	force, err := boolValue(r, "force")
	if err != nil {
		return err
	}
	return emptyOK(w, b.NodeRemove(ctx, v["id"], force))
}

func (s *Server) serviceList(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	status, err := boolValue(r, "status")
	if err != nil {
		return err
	}
	svcs, err := b.ServiceList(ctx, f, status)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(svcs))
}

func (s *Server) serviceCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	resp, err := b.ServiceCreate(ctx, spec, r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) serviceInspect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	defaults, err := boolValue(r, "insertDefaults")
	if err != nil {
		return err
	}
	svc, err := b.ServiceInspect(ctx, v["id"], defaults)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, svc)
}

func (s *Server) serviceRemove(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	return emptyOK(w, b.ServiceRemove(ctx, v["id"]))
}

func (s *Server) serviceUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	version, err := versionValue(r, "service")
	if err != nil {
		return err
	}
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	q := r.URL.Query()
	opts := engine.ServiceUpdateOptions{RegistryAuthFrom: q.Get("registryAuthFrom"), Rollback: q.Get("rollback"), Auth: r.Header.Get("X-Registry-Auth")}
	resp, err := b.ServiceUpdate(ctx, v["id"], version, spec, opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) serviceLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	return s.swarmLogs(ctx, w, r, v["id"], func(b engine.SwarmBackend) func(context.Context, string, engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
		return b.ServiceLogs
	})
}

func (s *Server) taskLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	return s.swarmLogs(ctx, w, r, v["id"], func(b engine.SwarmBackend) func(context.Context, string, engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
		return b.TaskLogs
	})
}

// swarmLogs serves service and task logs. dockerd checks the streams
// before the swarm (a 500 there, as it sends), and always multiplexes.
func (s *Server) swarmLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, id string, pick func(engine.SwarmBackend) func(context.Context, string, engine.LogsOptions) (<-chan engine.SwarmLogMessage, error)) error {
	ctx, cancel := longPoll(ctx)
	defer cancel()
	var details bool
	opts, err := logsQuery(r, &details, errors.New("Bad parameters: you must choose at least one stream"))
	if err != nil {
		return err
	}
	b, err := s.manager(ctx)
	if err != nil {
		return err
	}
	msgs, err := pick(b)(ctx, id, opts)
	if err != nil {
		return err
	}
	return streamLogs(ctx, w, msgs, true, func(dst []byte, m engine.SwarmLogMessage) ([]byte, string) {
		return appendSwarmLogLine(dst, m, opts.Timestamps, details), m.Stream
	})
}

// appendSwarmLogLine formats a line as dockerd's log stream writer does:
// [timestamp ][k=v,k=v ]line, the details' keys sorted and query-escaped.
func appendSwarmLogLine(dst []byte, m engine.SwarmLogMessage, timestamps, details bool) []byte {
	if timestamps {
		dst = m.Time.UTC().AppendFormat(dst, timestampFormat)
		dst = append(dst, ' ')
	}
	if details {
		attrs := append([]string(nil), m.Attrs...)
		sort.Strings(attrs)
		for i, a := range attrs {
			k, v, _ := strings.Cut(a, "=")
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, url.QueryEscape(k)...)
			dst = append(dst, '=')
			dst = append(dst, url.QueryEscape(v)...)
		}
		dst = append(dst, ' ')
	}
	return append(dst, m.Line...)
}

// refRoutes are the backend calls of /secrets or /configs: the two sets
// of endpoints differ only in their types.
type refRoutes[Spec, Obj any] struct {
	kind    string // "secret" or "config": the path is /<kind>s
	list    func(engine.SwarmBackend, context.Context, filters.Args) ([]Obj, error)
	create  func(engine.SwarmBackend, context.Context, Spec) (string, error)
	inspect func(engine.SwarmBackend, context.Context, string) (Obj, error)
	update  func(engine.SwarmBackend, context.Context, string, uint64, Spec) error
	remove  func(engine.SwarmBackend, context.Context, string) error
}

func registerRefRoutes[Spec, Obj any](s *Server, rt *router, c refRoutes[Spec, Obj]) {
	base := "/" + c.kind + "s"
	rt.get(base, s.forwardSwarm(swarmList(s, c.list), false))
	rt.post(base+"/create", s.forwardSwarm(func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		b, err := s.manager(ctx)
		if err != nil {
			return err
		}
		var spec Spec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		id, err := c.create(b, ctx, spec)
		if err != nil {
			return err
		}
		// swarm.SecretCreateResponse and ConfigCreateResponse are both this.
		return writeJSON(w, http.StatusCreated, struct{ ID string }{id})
	}, false))
	rt.get(base+"/{id}", s.forwardSwarm(swarmGet(s, c.inspect), false))
	rt.del(base+"/{id}", s.forwardSwarm(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
		b, err := s.manager(ctx)
		if err != nil {
			return err
		}
		if err := c.remove(b, ctx, v["id"]); err != nil {
			return err
		}
		return noContent(w)
	}, false))
	// dockerd's words here are shorter than for the other objects' versions.
	version := func(r *http.Request) (uint64, error) {
		v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		if err != nil {
			return 0, errdefs.Invalidf("invalid %s version", c.kind)
		}
		return v, nil
	}
	rt.post(base+"/{id}/update", s.forwardSwarm(swarmSpecUpdate(s, version, c.update), false))
}

// swarmList is a list endpoint of a swarm object (nodes, tasks, secrets,
// configs): the filters in, the backend's list out.
func swarmList[T any](s *Server, list func(engine.SwarmBackend, context.Context, filters.Args) ([]T, error)) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		b, err := s.manager(ctx)
		if err != nil {
			return err
		}
		f, err := filterArgs(r)
		if err != nil {
			return err
		}
		l, err := list(b, ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, nonNil(l))
	}
}

// swarmGet is an inspect endpoint of a swarm object.
func swarmGet[T any](s *Server, inspect func(engine.SwarmBackend, context.Context, string) (T, error)) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
		b, err := s.manager(ctx)
		if err != nil {
			return err
		}
		o, err := inspect(b, ctx, v["id"])
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, o)
	}
}

// swarmSpecUpdate is an update endpoint answering no body (nodes,
// secrets, configs): the version is checked before anything else.
func swarmSpecUpdate[Spec any](s *Server, version func(*http.Request) (uint64, error), update func(engine.SwarmBackend, context.Context, string, uint64, Spec) error) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
		ver, err := version(r)
		if err != nil {
			return err
		}
		b, err := s.manager(ctx)
		if err != nil {
			return err
		}
		var spec Spec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		return emptyOK(w, update(b, ctx, v["id"], ver, spec))
	}
}

// nonNil makes an empty list encode as [] rather than null, as dockerd's do.
func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
