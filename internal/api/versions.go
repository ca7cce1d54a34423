package api

// API versions: the one place where the version a request names (/v1.41/...)
// changes what the request means or what its answer looks like.
//
// We advertise 1.24 to 1.50. A client that pins an older version gets that
// version's shapes and semantics as dockerd 28 gives them. Every entry below
// is a change listed in moby's API version history (api/docs/
// version-history.md; docs/CHANGELOG.md in the github.com/moby/moby/api
// module) that dockerd 28's router still honours for older clients, and
// only those: changes the history marks "not versioned" apply to every
// version and live in the handlers like any other behaviour.
//
// Three mechanisms, all keyed by the tables in this file:
//   - queryParams: a query parameter a version added is ignored (removed
//     from the request before the handler sees it) for older requests;
//     queryRewrites turn an old parameter into its current form.
//   - request adapters (adaptCreate, adaptUpdate, ...): the decoded body
//     of an older request is changed to what it meant then.
//   - response adapters (adaptImageInspect, adaptInfo, ...): the answer gets
//     the fields that version had (or loses the ones it did not).
// TestVersionTableCitesHistory checks every entry names a version we serve.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client/pkg/versions"
)

// change is one entry of the version history: requests whose version is
// below Version get the behaviour from before it.
type change struct {
	Version  string // the API version that made the change
	Endpoint string // method and route
	History  string // the history's entry, abridged
}

// before reports whether the request predates c.
func (c change) before(ctx context.Context) bool {
	return versions.LessThan(VersionFromContext(ctx), c.Version)
}

// The versioned changes to request semantics and response shapes that the
// adapters below implement, newest first. The query-parameter changes are
// in queryParams.
var (
	// Image inspect.
	chImageLegacyConfig = change{"1.50", "GET /images/{name}/json", "Config no longer returns Hostname, Domainname, AttachStd*, Tty, OpenStdin, StdinOnce, Image (deprecated in 1.46; older versions still return them, empty)"}
	chImageDescriptor   = change{"1.48", "GET /images/{name}/json", "responses include Descriptor"}
	chImageContainer    = change{"1.45", "GET /images/{name}/json", "no longer includes the Container and ContainerConfig fields"}
	chImageVirtualSize  = change{"1.44", "GET /images/{name}/json, GET /images/json, GET /system/df", "VirtualSize is omitted"}
	chImageCreatedZero  = change{"1.44", "GET /images/{name}/json", "omits Created (previously 0001-01-01T00:00:00Z) if the image config has none"}
	// Image list.
	chImageListContainers = change{"1.51", "GET /images/json", "Containers is the count of containers using the image (previously always -1)"}
	chImageListDescriptor = change{"1.48", "GET /images/json", "responses include Descriptor"}
	chImageListNone       = change{"1.43", "GET /images/json", "no longer includes hardcoded <none>:<none> and <none>@<none> for untagged images"}
	// Containers.
	chContainerManifestDesc  = change{"1.48", "GET /containers/json, GET /containers/{id}/json", "return ImageManifestDescriptor"}
	chContainerAnnotations   = change{"1.46", "GET /containers/json", "returns the annotations of containers"}
	chInspectAliases         = change{"1.45", "GET /containers/{id}/json", "Aliases no longer contains the short container ID (and hostname); use DNSNames"}
	chCreateGwPriority       = change{"1.48", "POST /containers/create", "EndpointsConfig accepts GwPriority; Mount of type image"}
	chCreateVolumeDriverWarn = change{"1.48", "POST /containers/create", "warns when Config.VolumeDriver is combined with volumes in Mounts"}
	chCreateEndpointSysctl   = change{"1.48", "POST /containers/create", "interface sysctls for eth0 in HostConfig.Sysctls are no longer migrated to DriverOpts (1.46 added com.docker.network.endpoint.sysctls)"}
	chCreateSubpath          = change{"1.45", "POST /containers/create", "supports VolumeOptions.Subpath"}
	chCreateMacAddress       = change{"1.44", "POST /containers/create", "container-wide Config.MacAddress is deprecated in favour of EndpointsConfig's MacAddress"}
	chCreateMultiEndpoint    = change{"1.44", "POST /containers/create", "accepts multiple EndpointsConfig entries"}
	chCreateStartInterval    = change{"1.44", "POST /containers/create", "HealthConfig.StartInterval"}
	chCreateRORecursive      = change{"1.44", "POST /containers/create", "BindOptions.ReadOnlyNonRecursive and ReadOnlyForceRecursive; read-only binds recursive"}
	chCreateAnnotations      = change{"1.43", "POST /containers/create", "accepts HostConfig.Annotations"}
	chCreateMountOptions     = change{"1.42", "POST /containers/create", "rejects Bind/Volume/TmpfsOptions on a mount of another type; BindOptions.CreateMountpoint"}
	chCreateConsoleSize      = change{"1.42", "POST /containers/create", "respects HostConfig.ConsoleSize on Linux"}
	chCreateCgroupns         = change{"1.41", "POST /containers/create", "HostConfig.CgroupnsMode; older clients get host on cgroup v1 hosts"}
	chCreateIpcPrivate       = change{"1.40", "POST /containers/create", "IpcMode defaults to private (shareable before)"}
	chCreateNonRecursive     = change{"1.40", "POST /containers/create", "supports BindOptions.NonRecursive"}
	chCreateAutoRemove       = change{"1.25", "POST /containers/create", "takes HostConfig.AutoRemove"}
	chUpdatePidsLimit        = change{"1.40", "POST /containers/{id}/update", "accepts PidsLimit"}
	chExecConsoleSize        = change{"1.42", "POST /containers/{id}/exec, POST /exec/{id}/start", "accept ConsoleSize"}
	chWaitHeader             = change{"1.30", "POST /containers/{id}/wait", "handles the condition parameter and returns headers immediately"}
	chMultiplexedType        = change{"1.42", "attach, exec start, logs", "Content-Type application/vnd.docker.multiplexed-stream for a multiplexed stream"}
	// Networks.
	chNetworkEnableIPv4     = change{"1.48", "POST /networks/create", "EnableIPv4"}
	chNetworkListContainers = change{"1.28", "GET /networks", "no longer lists each network's containers (Containers is empty; network inspect has them)"}
	chNetworkIPAMValidate   = change{"1.44", "POST /networks/create", "returns a 400 if the IPAMConfig has invalid values (a subnet with host bits); marked unversioned, but dockerd 25+ takes such subnets from older clients"}
	// System.
	chInfoBridgeNf       = change{"1.50", "GET /info", "BridgeNfIptables and BridgeNfIp6tables are omitted (always false before); DiscoveredDevices added"}
	chInfoFirewall       = change{"1.49", "GET /info", "FirewallBackend"}
	chInfoExpected       = change{"1.49", "GET /info", "ContainerdCommit.Expected, RuncCommit.Expected, InitCommit.Expected are omitted"}
	chInfoNondist        = change{"1.49", "GET /info", "RegistryConfig.AllowNondistributableArtifactsCIDRs and ...Hostnames are omitted (null since 1.48)"}
	chInfoContainerd     = change{"1.46", "GET /info", "Containerd"}
	chInfoRuntimeStatus  = change{"1.44", "GET /info", "status properties in Runtimes"}
	chInfoUnknown        = change{"1.39", "GET /info", "empty KernelVersion and OperatingSystem instead of <unknown>"}
	chInfoSecurityOpts   = change{"1.25", "GET /info", "structured SecurityOptions (name=...,key=value)"}
	chEventsImageCreate  = change{"1.46", "GET /events", "image create events"}
	chDFBuildCacheParent = change{"1.42", "GET /system/df", "BuildCache Parent omitted, Parents added; BuilderSize removed"}
	chBuildAux           = change{"1.30", "POST /build", "aux messages (the built image ID)"}
)

// queryParam is a query parameter that a version added: older requests
// are answered as if it was not there, as dockerd does.
type queryParam struct {
	change
	Method, Route, Param string // Route as registered with the router
}

var queryParams = []queryParam{
	{change{"1.50", "DELETE /images/{name}", "platforms parameter"}, http.MethodDelete, "/images/{name:.*}", "platforms"},
	{change{"1.49", "GET /images/{name}/json", "platform parameter"}, http.MethodGet, "/images/{name:.*}/json", "platform"},
	{change{"1.48", "GET /images/{name}/json", "manifests parameter"}, http.MethodGet, "/images/{name:.*}/json", "manifests"},
	{change{"1.48", "GET /images/{name}/history", "platform parameter"}, http.MethodGet, "/images/{name:.*}/history", "platform"},
	{change{"1.48", "POST /images/load", "platform parameter"}, http.MethodPost, "/images/load", "platform"},
	{change{"1.48", "GET /images/get", "platform parameter"}, http.MethodGet, "/images/get", "platform"},
	{change{"1.48", "GET /images/{name}/get", "platform parameter"}, http.MethodGet, "/images/{name:.*}/get", "platform"},
	{change{"1.48", "POST /build/prune", "keep-storage renamed reserved-space"}, http.MethodPost, "/build/prune", "reserved-space"},
	{change{"1.47", "GET /images/json", "manifests parameter"}, http.MethodGet, "/images/json", "manifests"},
	{change{"1.46", "POST /images/{name}/push", "platform parameter"}, http.MethodPost, "/images/{name:.*}/push", "platform"},
	{change{"1.42", "GET /images/json", "shared-size parameter"}, http.MethodGet, "/images/json", "shared-size"},
	{change{"1.42", "POST /containers/{id}/stop", "signal parameter"}, http.MethodPost, "/containers/{name}/stop", "signal"},
	{change{"1.42", "POST /containers/{id}/restart", "signal parameter"}, http.MethodPost, "/containers/{name}/restart", "signal"},
	{change{"1.42", "GET /system/df", "type parameter"}, http.MethodGet, "/system/df", "type"},
	{change{"1.41", "POST /containers/create", "platform parameter"}, http.MethodPost, "/containers/create", "platform"},
	{change{"1.41", "GET /containers/{id}/stats", "one-shot parameter"}, http.MethodGet, "/containers/{name}/stats", "one-shot"},
	{change{"1.40", "POST /build", "outputs parameter"}, http.MethodPost, "/build", "outputs"},
	{change{"1.32", "POST /build", "platform parameter"}, http.MethodPost, "/build", "platform"},
	{change{"1.32", "POST /images/create", "platform parameter"}, http.MethodPost, "/images/create", "platform"},
	{change{"1.30", "POST /containers/{id}/wait", "condition parameter"}, http.MethodPost, "/containers/{name}/wait", "condition"},
}

// queryRewrite turns what an older request said into the current form.
type queryRewrite struct {
	change
	Method, Route string
	rewrite       func(q url.Values) error
}

var queryRewrites = []queryRewrite{
	{change{"1.42", "POST /volumes/prune", "prunes only anonymous volumes unless the filter all=true"}, http.MethodPost, "/volumes/prune", pruneAllVolumes},
	{change{"1.41", "GET /images/json", "the filter parameter (a reference glob) is removed; use filters"}, http.MethodGet, "/images/json", imageFilterParam},
}

// pruneAllVolumes gives older clients the named volumes too.
func pruneAllVolumes(q url.Values) error {
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return errdefs.Invalid(err)
	}
	if f.Contains("all") {
		return nil
	}
	f.Add("all", "true")
	s, err := f.Encode()
	if err != nil {
		return err
	}
	q.Set("filters", s)
	return nil
}

// imageFilterParam turns ?filter=GLOB into the reference filter.
func imageFilterParam(q url.Values) error {
	glob := q.Get("filter")
	if glob == "" {
		return nil
	}
	q.Del("filter")
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return errdefs.Invalid(err)
	}
	f.Add("reference", glob)
	s, err := f.Encode()
	if err != nil {
		return err
	}
	q.Set("filters", s)
	return nil
}

// adaptQuery applies queryParams and queryRewrites to a request of version
// v routed to method+route, before its handler runs.
func adaptQuery(v, method, route string, r *http.Request) error {
	var q url.Values
	for _, p := range queryParams {
		if p.Method != method || p.Route != route || versions.GreaterThanOrEqualTo(v, p.Version) {
			continue
		}
		if q == nil {
			q = r.URL.Query()
		}
		q.Del(p.Param)
	}
	for _, rw := range queryRewrites {
		if rw.Method != method || rw.Route != route || versions.GreaterThanOrEqualTo(v, rw.Version) {
			continue
		}
		if q == nil {
			q = r.URL.Query()
		}
		if err := rw.rewrite(q); err != nil {
			return err
		}
	}
	if q != nil {
		r.URL.RawQuery = q.Encode()
	}
	return nil
}

// legacyCreateFields are body fields of POST /containers/create that the
// current types no longer carry but older versions still send.
type legacyCreateFields struct {
	MacAddress string // container-wide, deprecated in 1.44, gone in 1.52
}

// adaptCreate gives a create request of an older version its meaning then,
// and checks what later versions refuse. It returns dockerd's warnings.
// cgroup2 tells whether the host runs cgroup v2 only.
func adaptCreate(ctx context.Context, req *container.CreateRequest, legacy legacyCreateFields, cgroup2 bool) ([]string, error) {
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if req.NetworkingConfig == nil {
		req.NetworkingConfig = &network.NetworkingConfig{}
	}
	hc, nc := req.HostConfig, req.NetworkingConfig
	if hc.NetworkMode == "" || hc.NetworkMode == network.NetworkDefault {
		// "default" is the bridge: resolve it before the rules below
		// look at the mode, as dockerd does.
		hc.NetworkMode = network.NetworkBridge
		if ep, ok := nc.EndpointsConfig[network.NetworkDefault]; ok {
			nc.EndpointsConfig[network.NetworkBridge] = ep
			delete(nc.EndpointsConfig, network.NetworkDefault)
		}
	}
	if chCreateAutoRemove.before(ctx) {
		// The client removed the container itself.
		hc.AutoRemove = false
	}
	if chCreateNonRecursive.before(ctx) {
		for i := range hc.Mounts {
			if bo := hc.Mounts[i].BindOptions; bo != nil {
				bo.NonRecursive = false
			}
		}
	}
	if chCreateIpcPrivate.before(ctx) && hc.IpcMode == "" {
		hc.IpcMode = container.IPCModeShareable
	}
	if chCreateCgroupns.before(ctx) && !cgroup2 && hc.CgroupnsMode == "" {
		hc.CgroupnsMode = container.CgroupnsModeHost
	}
	if chCreateMountOptions.before(ctx) {
		for i := range hc.Mounts {
			m := &hc.Mounts[i]
			if m.BindOptions != nil {
				m.BindOptions.CreateMountpoint = false
			}
			// Not validated then: drop them so validation passes.
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				m.VolumeOptions = nil
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				m.TmpfsOptions = nil
			}
		}
	} else {
		for _, m := range hc.Mounts {
			switch {
			case m.VolumeOptions != nil && m.Type != mount.TypeVolume:
				return nil, errdefs.Invalidf("VolumeOptions must not be specified on mount type %q", m.Type)
			case m.BindOptions != nil && m.Type != mount.TypeBind:
				return nil, errdefs.Invalidf("BindOptions must not be specified on mount type %q", m.Type)
			case m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs:
				return nil, errdefs.Invalidf("TmpfsOptions must not be specified on mount type %q", m.Type)
			}
		}
	}
	if chCreateConsoleSize.before(ctx) {
		hc.ConsoleSize = [2]uint{0, 0}
	}
	if chCreateAnnotations.before(ctx) {
		hc.Annotations = nil
	}
	if chCreateStartInterval.before(ctx) && req.Config != nil && req.Config.Healthcheck != nil {
		req.Config.Healthcheck.StartInterval = 0
	}
	if chCreateRORecursive.before(ctx) {
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeBind && m.BindOptions != nil && m.BindOptions.ReadOnlyForceRecursive {
				return nil, errdefs.Invalidf("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
			}
		}
	}
	if chCreateMultiEndpoint.before(ctx) && len(nc.EndpointsConfig) > 1 {
		names := make([]string, 0, len(nc.EndpointsConfig))
		for k := range nc.EndpointsConfig {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, errdefs.Invalidf("Container cannot be created with multiple network endpoints: %s", strings.Join(names, ", "))
	}
	if chCreateSubpath.before(ctx) {
		for _, m := range hc.Mounts {
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				return nil, errdefs.Invalidf("VolumeOptions.Subpath needs API v1.45 or newer")
			}
		}
	}
	if chCreateGwPriority.before(ctx) {
		for _, ep := range nc.EndpointsConfig {
			if ep != nil {
				ep.GwPriority = 0
			}
		}
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeImage {
				return nil, errdefs.Invalidf(`Mount type "Image" needs API v1.48 or newer`)
			}
		}
	}
	var warnings []string
	if !chCreateVolumeDriverWarn.before(ctx) && hc.VolumeDriver != "" {
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeVolume && (m.VolumeOptions == nil || m.VolumeOptions.DriverConfig == nil || m.VolumeOptions.DriverConfig.Name == "") {
				warnings = append(warnings, "WARNING: the container-wide volume-driver configuration is ignored for volumes specified via 'mount'. Use '--mount type=volume,volume-driver=...' instead")
				break
			}
		}
	}
	w, err := adaptMacAddress(ctx, hc, nc, legacy.MacAddress)
	if err != nil {
		return nil, err
	}
	if w != "" {
		warnings = append(warnings, w)
	}
	if !chCreateEndpointSysctl.before(ctx) && (hc.NetworkMode.IsBridge() || hc.NetworkMode.IsUserDefined()) {
		for k := range hc.Sysctls {
			if sp := strings.SplitN(k, ".", 5); len(sp) == 5 && sp[0] == "net" && strings.HasPrefix(sp[3], "eth") {
				return nil, fmt.Errorf("interface specific sysctl setting %q must be supplied using driver option 'com.docker.network.endpoint.sysctls'", k)
			}
		}
	}
	return warnings, nil
}

// adaptMacAddress moves the container-wide MAC address of a create request
// to the endpoint of its network mode, as dockerd does for every version
// (with a deprecation warning from 1.44 on).
func adaptMacAddress(ctx context.Context, hc *container.HostConfig, nc *network.NetworkingConfig, mac string) (string, error) {
	old := chCreateMacAddress.before(ctx)
	if mac == "" {
		if old {
			// The endpoint field did not exist: an old client's value is noise.
			for _, ep := range nc.EndpointsConfig {
				if ep != nil {
					ep.MacAddress = nil
				}
			}
		}
		return "", nil
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", errdefs.Invalidf("invalid MAC address %s", mac)
	}
	if !hc.NetworkMode.IsBridge() && !hc.NetworkMode.IsUserDefined() {
		if old {
			return "", errdefs.Invalidf("conflicting options: mac-address and the network mode")
		}
		return "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.", nil
	}
	ep, err := endpointForMode(ctx, hc.NetworkMode, nc)
	if err != nil {
		if !old {
			return "", errdefs.Invalid(fmt.Errorf("unable to migrate container-wide MAC address to a specific network: %w", err))
		}
		return "", err
	}
	switch {
	case old || len(ep.MacAddress) == 0:
		ep.MacAddress = network.HardwareAddr(hw)
	case !slices.Equal(ep.MacAddress, network.HardwareAddr(hw)):
		return "", errdefs.Invalidf("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty")
	}
	if old {
		return "", nil
	}
	return "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.", nil
}

// endpointForMode finds or makes the EndpointsConfig entry of the network
// the mode names.
func endpointForMode(ctx context.Context, mode container.NetworkMode, nc *network.NetworkingConfig) (*network.EndpointSettings, error) {
	name := mode.NetworkName()
	if len(nc.EndpointsConfig) == 0 {
		ep := &network.EndpointSettings{}
		nc.EndpointsConfig = map[string]*network.EndpointSettings{name: ep}
		return ep, nil
	}
	if chCreateMultiEndpoint.before(ctx) {
		// One entry at most then, and it was the mode's network.
		for k, ep := range nc.EndpointsConfig {
			if ep == nil {
				ep = &network.EndpointSettings{}
				nc.EndpointsConfig[k] = ep
			}
			return ep, nil
		}
	}
	ep, ok := nc.EndpointsConfig[name]
	if !ok {
		return nil, errdefs.Invalidf("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks")
	}
	if ep == nil {
		ep = &network.EndpointSettings{}
		nc.EndpointsConfig[name] = ep
	}
	return ep, nil
}

// adaptUpdate is POST /containers/{id}/update's body for older versions.
func adaptUpdate(ctx context.Context, u *container.UpdateConfig) {
	if chUpdatePidsLimit.before(ctx) {
		u.PidsLimit = nil
	}
}

// adaptExecConsoleSize drops an exec's initial console size for versions
// that did not have it.
func adaptExecConsoleSize(ctx context.Context, size **[2]uint) {
	if chExecConsoleSize.before(ctx) {
		*size = nil
	}
}

// adaptNetworkCreate is POST /networks/create's body for older versions.
func adaptNetworkCreate(ctx context.Context, req *network.CreateRequest) {
	if chNetworkEnableIPv4.before(ctx) {
		req.EnableIPv4 = nil
	}
}

// networkListJSON is GET /networks' answer as dockerd 28 writes it: each
// entry has "Containers" (moby's Summary dropped the field with API 1.52),
// empty from 1.28 and, for older clients, the network's endpoints as
// inspect shows them (containers asks the backend for one network's).
func networkListJSON(ctx context.Context, list []network.Summary, containers func(id string) map[string]network.EndpointResource) []network.Inspect {
	out := make([]network.Inspect, len(list))
	for i, n := range list {
		out[i] = network.Inspect{Network: n.Network, Containers: map[string]network.EndpointResource{}}
		if chNetworkListContainers.before(ctx) {
			if c := containers(n.ID); c != nil {
				out[i].Containers = c
			}
		}
	}
	return out
}

// waitHeaderEarly tells whether POST /containers/{id}/wait sends its 200
// before the container exits (1.30 on); older clients got it with the body.
func waitHeaderEarly(ctx context.Context) bool { return !chWaitHeader.before(ctx) }

// multiplexedContentType tells whether a multiplexed stream is labelled
// as such (1.42 on) rather than as a raw stream.
func multiplexedContentType(ctx context.Context) bool { return !chMultiplexedType.before(ctx) }

// wantEvent drops events a version did not know.
func wantEvent(ctx context.Context, m events.Message) bool {
	return !(m.Type == events.ImageEventType && m.Action == events.ActionCreate && chEventsImageCreate.before(ctx))
}

// wantBuildAux tells whether the build stream carries aux messages.
func wantBuildAux(ctx context.Context) bool { return !chBuildAux.before(ctx) }

// dropAux leaves a build stream's aux messages out, for versions that had
// none; every message arrives as one Write.
type dropAux struct{ w http.ResponseWriter }

func (d dropAux) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"aux":`)) {
		return len(p), nil
	}
	return d.w.Write(p)
}

func (d dropAux) Flush() { http.NewResponseController(d.w).Flush() }

// adaptContainerList is GET /containers/json's answer for the version.
func adaptContainerList(ctx context.Context, list []container.Summary) {
	for i := range list {
		if chContainerAnnotations.before(ctx) {
			list[i].HostConfig.Annotations = nil
		}
		if chContainerManifestDesc.before(ctx) {
			list[i].ImageManifestDescriptor = nil
		}
	}
}

// containerInspectJSON is container inspect as dockerd 28 encodes it: its
// Config type still had OnBuild without omitempty, so "OnBuild": null is
// always there, and the container-wide MacAddress.
type containerInspectJSON struct {
	*container.InspectResponse
	Config          *configJSON `json:"Config"`
	NetworkSettings any         `json:"NetworkSettings"`
}

type configJSON struct {
	*container.Config
	OnBuild []string `json:"OnBuild"`
	// MacAddress is deprecated since 1.44 and gone from the types in 1.52,
	// yet dockerd 28 fills it at every version (daemon/inspect.go copies
	// the network-mode endpoint's requested address into it, so unversioned
	// clients keep working); omitted when none was asked for.
	MacAddress string `json:",omitempty"`
}

// adaptContainerInspect is GET /containers/{id}/json's answer for the version.
func adaptContainerInspect(ctx context.Context, res *engine.ContainerInspectResult) any {
	c := res.InspectResponse
	if chInspectAliases.before(ctx) && c.NetworkSettings != nil {
		short := c.ID
		if len(short) > 12 {
			short = short[:12]
		}
		hostname := ""
		if c.Config != nil {
			hostname = c.Config.Hostname
		}
		for name, ep := range c.NetworkSettings.Networks {
			if ep == nil || !container.NetworkMode(name).IsUserDefined() {
				continue
			}
			for _, a := range []string{short, hostname} {
				if a != "" && !slices.Contains(ep.Aliases, a) {
					ep.Aliases = append(ep.Aliases, a)
				}
			}
		}
	}
	if chContainerManifestDesc.before(ctx) {
		c.ImageManifestDescriptor = nil
	}
	out := containerInspectJSON{InspectResponse: c, NetworkSettings: c.NetworkSettings}
	if lc, ok := withLegacyNetworkSettings(c).(*inspectCompat); ok {
		out.NetworkSettings = lc.NetworkSettings
	}
	if c.Config != nil {
		out.Config = &configJSON{Config: c.Config, OnBuild: c.Config.OnBuild, MacAddress: res.MacAddress}
	}
	return out
}

// imageListJSON adds VirtualSize, which 1.44 dropped.
type imageListJSON struct {
	image.Summary
	VirtualSize int64 `json:"VirtualSize,omitempty"`
}

// adaptImageList is GET /images/json's answer for the version.
func adaptImageList(ctx context.Context, list []image.Summary) any {
	for i := range list {
		im := &list[i]
		if chImageListNone.before(ctx) {
			if len(im.RepoTags) == 0 && len(im.RepoDigests) == 0 {
				im.RepoTags = []string{"<none>:<none>"}
				im.RepoDigests = []string{"<none>@<none>"}
			}
		}
		if im.RepoTags == nil {
			im.RepoTags = []string{}
		}
		if im.RepoDigests == nil {
			im.RepoDigests = []string{}
		}
		if chImageListDescriptor.before(ctx) {
			im.Descriptor = nil
		}
		if chImageListContainers.before(ctx) {
			im.Containers = -1
		}
	}
	if !chImageVirtualSize.before(ctx) {
		return list
	}
	out := make([]imageListJSON, len(list))
	for i, im := range list {
		out[i] = imageListJSON{Summary: im, VirtualSize: im.Size}
	}
	return out
}

// legacyImageConfig are the Config fields image inspect always carried
// (the type had no omitempty for them); below 1.50 also the container-only
// ones, always empty.
var (
	imageConfigAlways = map[string]any{
		"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil, "OnBuild": nil,
		"User": "", "Volumes": nil, "WorkingDir": "",
	}
	imageConfigBefore150 = map[string]any{
		"AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Domainname": "",
		"Hostname": "", "Image": "", "OpenStdin": false, "StdinOnce": false, "Tty": false,
	}
)

// adaptImageInspect is GET /images/{name}/json's answer for the version.
// parent is the parent image's ID ("" for none): dockerd 28's type always
// had Parent, Comment, DockerVersion and Author.
func adaptImageInspect(ctx context.Context, img *image.InspectResponse, parent string) (any, error) {
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	if img.RepoDigests == nil {
		img.RepoDigests = []string{}
	}
	if chImageDescriptor.before(ctx) {
		img.Descriptor = nil
	}
	obj, err := toObject(img)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Comment", "Author"} {
		if _, ok := obj[k]; !ok {
			obj[k] = json.RawMessage(`""`)
		}
	}
	if err := obj.set("Parent", parent); err != nil {
		return nil, err
	}
	obj["DockerVersion"] = json.RawMessage(`""`)
	cfg := map[string]any{}
	if raw, ok := obj["Config"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, err
		}
	}
	fill := func(m map[string]any) {
		for k, v := range m {
			if _, ok := cfg[k]; !ok {
				cfg[k] = v
			}
		}
	}
	fill(imageConfigAlways)
	if chImageLegacyConfig.before(ctx) {
		fill(imageConfigBefore150)
	}
	if err := obj.set("Config", cfg); err != nil {
		return nil, err
	}
	if chImageContainer.before(ctx) {
		obj["Container"] = json.RawMessage(`""`)
	}
	// ContainerConfig is the config the image was committed from; images
	// have no record of it, and the image's own config is what it held.
	// Deliberately kept at every version, unlike dockerd 28 from 1.45 on:
	// docker-compose 1.29 negotiates the newest version and then fails
	// with KeyError: 'ContainerConfig' without it.
	if err := obj.set("ContainerConfig", cfg); err != nil {
		return nil, err
	}
	if chImageVirtualSize.before(ctx) {
		if err := obj.set("VirtualSize", img.Size); err != nil {
			return nil, err
		}
	}
	if chImageCreatedZero.before(ctx) && img.Created == "" {
		if err := obj.set("Created", time.Time{}.Format(time.RFC3339Nano)); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// adaptInfo is GET /info's answer for the version.
func adaptInfo(ctx context.Context, info *system.Info) (any, error) {
	if chInfoSecurityOpts.before(ctx) {
		names := make([]string, 0, len(info.SecurityOptions))
		for _, so := range info.SecurityOptions {
			name := so
			for _, kv := range strings.Split(so, ",") {
				if k, v, ok := strings.Cut(kv, "="); ok && k == "name" {
					name = v
				}
			}
			names = append(names, name)
		}
		info.SecurityOptions = names
	}
	if chInfoUnknown.before(ctx) {
		if info.KernelVersion == "" {
			info.KernelVersion = "<unknown>"
		}
		if info.OperatingSystem == "" {
			info.OperatingSystem = "<unknown>"
		}
	}
	if chInfoRuntimeStatus.before(ctx) {
		for k, rt := range info.Runtimes {
			info.Runtimes[k] = system.RuntimeWithStatus{Runtime: rt.Runtime}
		}
	}
	if chInfoContainerd.before(ctx) {
		info.Containerd = nil
	}
	if chInfoFirewall.before(ctx) {
		info.FirewallBackend = nil
	}
	if chInfoBridgeNf.before(ctx) {
		info.DiscoveredDevices = nil
	}
	if !chInfoBridgeNf.before(ctx) && !chInfoExpected.before(ctx) && !chInfoNondist.before(ctx) {
		return info, nil
	}
	obj, err := toObject(info)
	if err != nil {
		return nil, err
	}
	if chInfoBridgeNf.before(ctx) {
		obj["BridgeNfIptables"] = json.RawMessage("false")
		obj["BridgeNfIp6tables"] = json.RawMessage("false")
	}
	if chInfoExpected.before(ctx) {
		for _, k := range []string{"ContainerdCommit", "RuncCommit", "InitCommit"} {
			var c map[string]any
			if raw, ok := obj[k]; ok && json.Unmarshal(raw, &c) == nil && c != nil {
				c["Expected"] = c["ID"]
				if err := obj.set(k, c); err != nil {
					return nil, err
				}
			}
		}
	}
	if chInfoNondist.before(ctx) {
		var rc map[string]json.RawMessage
		if raw, ok := obj["RegistryConfig"]; ok && json.Unmarshal(raw, &rc) == nil && rc != nil {
			rc["AllowNondistributableArtifactsCIDRs"] = json.RawMessage("null")
			rc["AllowNondistributableArtifactsHostnames"] = json.RawMessage("null")
			if err := obj.set("RegistryConfig", rc); err != nil {
				return nil, err
			}
		}
	}
	return obj, nil
}

// adaptDiskUsage is GET /system/df's answer for the version. types is the
// type parameter (already removed for versions before 1.42).
func adaptDiskUsage(ctx context.Context, du any, types []string) (any, error) {
	obj, err := toObject(du)
	if err != nil {
		return nil, err
	}
	if len(types) > 0 {
		keep := map[string]bool{}
		for _, t := range types {
			switch t {
			case "container":
				keep["Containers"] = true
			case "image":
				keep["Images"], keep["LayersSize"] = true, true
			case "volume":
				keep["Volumes"] = true
			case "build-cache":
				keep["BuildCache"] = true
			default:
				return nil, errdefs.Invalidf("unknown object type: %s", t)
			}
		}
		for _, k := range []string{"Containers", "Images", "Volumes", "BuildCache"} {
			if !keep[k] {
				obj[k] = json.RawMessage("null")
			}
		}
		if !keep["LayersSize"] {
			obj["LayersSize"] = json.RawMessage("0")
		}
	}
	if chImageVirtualSize.before(ctx) {
		var imgs []map[string]json.RawMessage
		if raw, ok := obj["Images"]; ok && json.Unmarshal(raw, &imgs) == nil && imgs != nil {
			for _, im := range imgs {
				if sz, ok := im["Size"]; ok {
					im["VirtualSize"] = sz
				}
			}
			if err := obj.set("Images", imgs); err != nil {
				return nil, err
			}
		}
	}
	var cache []map[string]json.RawMessage
	if raw, ok := obj["BuildCache"]; ok && json.Unmarshal(raw, &cache) == nil && cache != nil {
		var total int64
		for _, rec := range cache {
			if chDFBuildCacheParent.before(ctx) {
				delete(rec, "Parents")
				delete(rec, " Parents") // the current type's tag has a stray space
				var sz int64
				if json.Unmarshal(rec["Size"], &sz) == nil {
					total += sz
				}
			} else {
				delete(rec, "Parent")
			}
		}
		if err := obj.set("BuildCache", cache); err != nil {
			return nil, err
		}
		if chDFBuildCacheParent.before(ctx) && total > 0 {
			if err := obj.set("BuilderSize", total); err != nil {
				return nil, err
			}
		}
	}
	return obj, nil
}

// object is a JSON object whose members can be set and removed before it
// is written; members keep their encoded form.
type object map[string]json.RawMessage

func toObject(v any) (object, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	return o, nil
}

func (o object) set(k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	o[k] = b
	return nil
}

// versionChanges lists every entry above, for the table test and the docs.
func versionChanges() []change {
	out := []change{
		chImageLegacyConfig, chImageDescriptor, chImageContainer, chImageVirtualSize, chImageCreatedZero,
		chImageListContainers, chImageListDescriptor, chImageListNone,
		chContainerManifestDesc, chContainerAnnotations, chInspectAliases,
		chCreateGwPriority, chCreateVolumeDriverWarn, chCreateEndpointSysctl, chCreateSubpath, chCreateMacAddress,
		chCreateMultiEndpoint, chCreateStartInterval, chCreateRORecursive, chCreateAnnotations, chCreateMountOptions,
		chCreateConsoleSize, chCreateCgroupns, chCreateIpcPrivate, chCreateNonRecursive, chCreateAutoRemove,
		chUpdatePidsLimit, chExecConsoleSize, chWaitHeader, chMultiplexedType, chNetworkEnableIPv4, chNetworkIPAMValidate, chNetworkListContainers,
		chInfoBridgeNf, chInfoFirewall, chInfoExpected, chInfoNondist, chInfoContainerd, chInfoRuntimeStatus,
		chInfoUnknown, chInfoSecurityOpts, chEventsImageCreate, chDFBuildCacheParent, chBuildAux,
	}
	for _, p := range queryParams {
		out = append(out, p.change)
	}
	for _, r := range queryRewrites {
		out = append(out, r.change)
	}
	return out
}
