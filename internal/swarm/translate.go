// Package swarm is Berth's swarm front end: it carries out Docker's swarm
// mode (services, tasks, nodes, secrets, configs, stacks) on Kubernetes.
// A service becomes a Deployment (replicated) or DaemonSet (global) plus a
// Service, a task is a Pod, a node a Node, a secret a Secret, a config a
// ConfigMap and a stack a namespace. The translation in this file is pure
// (swarm spec in, Kubernetes objects out, and back for inspect); the
// mapping table and what has no Kubernetes meaning is in docs/swarm.md.
package swarm

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations Berth puts on the objects it makes. Docker's own
// labels are kept so `kubectl get -l com.docker.stack.namespace=X` works.
const (
	LabelStack      = "com.docker.stack.namespace"
	LabelService    = "com.docker.swarm.service.name"
	LabelManaged    = "berth.swarm/managed"   // "true" on every object of ours
	LabelKind       = "berth.swarm/kind"      // secret, config, network
	AnnotationSpec  = "berth.swarm/spec"      // the ServiceSpec as the client sent it
	AnnotationPrev  = "berth.swarm/prev-spec" // the spec before the last update
	AnnotationState = "berth.swarm/update"    // UpdateStatus of the last update, JSON
	// AnnotationStatusWrites counts the update monitor's writes of
	// AnnotationState since the last spec write: a Deployment's generation
	// also moves with its annotations, and those writes must not move the
	// service's version (see Version).
	AnnotationStatusWrites = "berth.swarm/status-writes"
	// DefaultNamespace holds services created outside a stack.
	DefaultNamespace = "default"
	// SystemNamespace holds swarm-wide objects (secrets, configs, networks)
	// from which per-namespace copies are made.
	SystemNamespace = "berth-swarm"
	// secretsDir is where Docker mounts secrets in a task.
	secretsDir = "/run/secrets"
)

// TranslateOptions are the node facts the translation needs.
type TranslateOptions struct {
	// VolumeRoot is the host directory under which named volumes of
	// services live, one directory per volume name, on every node (swarm's
	// local driver: a volume is per node, created on first use).
	VolumeRoot string
	// Rollback makes the workload roll out with the spec's rollback
	// config instead of its update config (a rollback's own strategy).
	Rollback bool
}

// Objects are the Kubernetes objects of one service.
type Objects struct {
	Namespace  string
	Name       string // object name of the workload and the Service
	Deployment *appsv1.Deployment
	DaemonSet  *appsv1.DaemonSet
	Service    *corev1.Service
	// Secrets and Configs are the swarm names the pods mount; the caller
	// copies them into Namespace before it applies the workload.
	Secrets, Configs []string
	// Warnings name each part of the spec Kubernetes cannot carry out.
	Warnings []string
	spec     string // the service's name, for tests
}

// Workload returns the pod template of the Deployment or DaemonSet.
func (o *Objects) Workload() *corev1.PodTemplateSpec {
	if o.Deployment != nil {
		return &o.Deployment.Spec.Template
	}
	return &o.DaemonSet.Spec.Template
}

// NamespaceFor is the namespace of a service: its stack, else default.
func NamespaceFor(spec swarm.ServiceSpec) string {
	if st := spec.Labels[LabelStack]; st != "" {
		return kubeName(st)
	}
	return DefaultNamespace
}

// ObjectName is the name of a service's objects in its namespace: the
// service name without the "<stack>_" prefix, in DNS-1123 form.
func ObjectName(spec swarm.ServiceSpec) string {
	name := spec.Name
	if st := spec.Labels[LabelStack]; st != "" {
		name = strings.TrimPrefix(name, st+"_")
	}
	return kubeName(name)
}

// kubeName turns a Docker name into a DNS-1123 label: lower case, "_" and
// "." become "-".
func kubeName(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, s)
}

func invalid(field, format string, a ...any) error {
	return errdefs.Invalid(fmt.Errorf("invalid %s: %s", field, fmt.Sprintf(format, a...)))
}

// Translate turns a service spec into Kubernetes objects. An invalid spec
// is an errdefs.Invalid error naming the field; parts with no Kubernetes
// meaning are listed in Warnings and otherwise ignored.
func Translate(spec swarm.ServiceSpec, opts TranslateOptions) (*Objects, error) {
	if spec.Name == "" {
		return nil, invalid("Name", "a service needs a name")
	}
	ns, name := NamespaceFor(spec), ObjectName(spec)
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return nil, invalid("Name", "%q cannot name a Kubernetes object: %s", spec.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, invalid("Labels."+LabelStack, "%q cannot name a namespace: %s", spec.Labels[LabelStack], strings.Join(errs, "; "))
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		if spec.TaskTemplate.PluginSpec != nil || spec.TaskTemplate.NetworkAttachmentSpec != nil {
			return nil, invalid("TaskTemplate", "only container tasks run on Kubernetes")
		}
		return nil, invalid("TaskTemplate.ContainerSpec", "missing")
	}
	if cs.Image == "" {
		return nil, invalid("TaskTemplate.ContainerSpec.Image", "a service needs an image")
	}
	o := &Objects{Namespace: ns, Name: name, spec: spec.Name}
	// Warnings name the key and the service, as `docker stack deploy`
	// prints them ("Ignoring unsupported options").
	warn := func(format string, a ...any) {
		o.Warnings = append(o.Warnings, fmt.Sprintf("service %s: ", spec.Name)+fmt.Sprintf(format, a...)+" (ignored)")
	}

	selector := map[string]string{LabelService: spec.Name}
	labels := map[string]string{LabelService: spec.Name, LabelManaged: "true"}
	if st := spec.Labels[LabelStack]; st != "" {
		labels[LabelStack] = st
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: copyMap(labels), Annotations: map[string]string{AnnotationSpec: string(specJSON)}}
	for k, v := range spec.Labels {
		if validLabel(k, v) {
			meta.Labels[k] = v
		}
	}

	ctr, err := containerOf(cs, warn)
	if err != nil {
		return nil, err
	}
	pod := corev1.PodSpec{
		Containers:         []corev1.Container{ctr},
		RestartPolicy:      corev1.RestartPolicyAlways,
		EnableServiceLinks: ptr(false),
	}
	if err := podSettings(&pod, cs, warn); err != nil {
		return nil, err
	}
	if err := resources(&pod.Containers[0], spec.TaskTemplate.Resources, warn); err != nil {
		return nil, err
	}
	restartPolicy(spec.TaskTemplate.RestartPolicy, warn)
	if err := placement(&pod, spec.TaskTemplate.Placement, selector, warn); err != nil {
		return nil, err
	}
	if err := mounts(&pod, cs.Mounts, opts, warn); err != nil {
		return nil, err
	}
	o.Secrets, o.Configs = secretsAndConfigs(&pod, cs)
	if spec.TaskTemplate.LogDriver != nil {
		warn("log_driver %q: task logs are the kubelet's CRI logs", spec.TaskTemplate.LogDriver.Name)
	}
	svcPorts, err := ports(&pod.Containers[0], spec.EndpointSpec)
	if err != nil {
		return nil, err
	}

	podLabels := copyMap(labels)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{}},
		Spec:       pod,
	}
	for k, v := range cs.Labels {
		// Container labels reach the container through annotations: label
		// values in Kubernetes are too restricted for Docker's.
		tmpl.Annotations["berth.swarm/label."+k] = v
	}
	if spec.TaskTemplate.ForceUpdate != 0 {
		// A changed annotation makes a new ReplicaSet, which is what
		// `service update --force` asks for.
		tmpl.Annotations["berth.swarm/force-update"] = strconv.FormatUint(spec.TaskTemplate.ForceUpdate, 10)
	}

	// How the workload rolls out: a rollback goes by the rollback config,
	// as swarm's does.
	rollout := spec.UpdateConfig
	if opts.Rollback && spec.RollbackConfig != nil {
		rollout = spec.RollbackConfig
	}
	switch {
	case spec.Mode.Global != nil:
		o.DaemonSet = &appsv1.DaemonSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
			ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: selector},
				Template:       tmpl,
				UpdateStrategy: daemonSetStrategy(rollout),
			},
		}
		if uc := rollout; uc != nil && uc.Delay > 0 {
			o.DaemonSet.Spec.MinReadySeconds = seconds(uc.Delay)
		}
	case spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil:
		return nil, invalid("Mode", "job services are not supported on Kubernetes by Berth")
	default:
		replicas := int32(1)
		if r := spec.Mode.Replicated; r != nil && r.Replicas != nil {
			if *r.Replicas > math.MaxInt32 {
				return nil, invalid("Mode.Replicated.Replicas", "%d is too many", *r.Replicas)
			}
			replicas = int32(*r.Replicas)
		}
		d := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: tmpl,
				Strategy: deploymentStrategy(rollout),
				// Swarm keeps a history of 5 tasks per slot; the
				// ReplicaSets are what `rollback` goes back to.
				RevisionHistoryLimit: ptr(int32(5)),
			},
		}
		if uc := rollout; uc != nil {
			if uc.Delay > 0 {
				d.Spec.MinReadySeconds = seconds(uc.Delay)
			}
			if uc.Monitor > 0 {
				// A rollout that makes no progress for Monitor (at least 1s
				// past Delay) is what Berth calls a failed update.
				d.Spec.ProgressDeadlineSeconds = ptr(seconds(uc.Monitor) + d.Spec.MinReadySeconds + 1)
			}
		}
		o.Deployment = d
	}
	updateConfigWarnings(spec.UpdateConfig, "update_config", warn)
	updateConfigWarnings(spec.RollbackConfig, "rollback_config", warn)

	o.Service = &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: copyMap(labels)},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    svcPorts,
		},
	}
	// A VIP needs a port in Kubernetes; a service with none (or dnsrr)
	// is headless, so its name still resolves, to the tasks' addresses.
	if len(svcPorts) == 0 || (spec.EndpointSpec != nil && spec.EndpointSpec.Mode == swarm.ResolutionModeDNSRR) {
		o.Service.Spec.ClusterIP = corev1.ClusterIPNone
		o.Service.Spec.PublishNotReadyAddresses = false
	}
	if spec.EndpointSpec != nil && spec.EndpointSpec.Mode == swarm.ResolutionModeDNSRR {
		for _, p := range spec.EndpointSpec.Ports {
			if p.PublishMode != swarm.PortConfigPublishModeHost {
				return nil, invalid("EndpointSpec.Ports", "port published with ingress mode can't be used with dnsrr mode")
			}
		}
	}
	return o, nil
}

func containerOf(cs *swarm.ContainerSpec, warn func(string, ...any)) (corev1.Container, error) {
	c := corev1.Container{
		Name:            "task",
		Image:           cs.Image,
		Command:         cs.Command,
		Args:            cs.Args,
		WorkingDir:      cs.Dir,
		TTY:             cs.TTY,
		Stdin:           cs.OpenStdin,
		ImagePullPolicy: corev1.PullIfNotPresent, // images built by `berth build` are never pulled
	}
	if cs.Dir != "" && !path.IsAbs(cs.Dir) {
		return c, invalid("TaskTemplate.ContainerSpec.Dir", "%q is not an absolute path", cs.Dir)
	}
	for _, e := range cs.Env {
		k, v, ok := strings.Cut(e, "=")
		if k == "" {
			return c, invalid("TaskTemplate.ContainerSpec.Env", "%q has no name", e)
		}
		if !ok {
			// "NAME" alone passes the engine's own value, which a task has
			// none of: Docker drops it too.
			continue
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
	}
	sc := &corev1.SecurityContext{}
	if cs.User != "" {
		u, g, _ := strings.Cut(cs.User, ":")
		uid, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			return c, invalid("TaskTemplate.ContainerSpec.User", "%q: Kubernetes runs containers only as numeric users (runAsUser)", cs.User)
		}
		sc.RunAsUser = &uid
		if g != "" {
			gid, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				return c, invalid("TaskTemplate.ContainerSpec.User", "%q: Kubernetes takes only a numeric group (runAsGroup)", cs.User)
			}
			sc.RunAsGroup = &gid
		}
	}
	if cs.ReadOnly {
		sc.ReadOnlyRootFilesystem = ptr(true)
	}
	if len(cs.CapabilityAdd) > 0 || len(cs.CapabilityDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{}
		for _, cp := range cs.CapabilityAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(strings.TrimPrefix(strings.ToUpper(cp), "CAP_")))
		}
		for _, cp := range cs.CapabilityDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(strings.TrimPrefix(strings.ToUpper(cp), "CAP_")))
		}
	}
	if p := cs.Privileges; p != nil {
		if p.NoNewPrivileges {
			sc.AllowPrivilegeEscalation = ptr(false)
		}
		if p.Seccomp != nil {
			switch p.Seccomp.Mode {
			case swarm.SeccompModeUnconfined:
				sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			case swarm.SeccompModeDefault:
				sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			case swarm.SeccompModeCustom:
				warn("a custom seccomp profile: Kubernetes takes only profiles installed on the node (Localhost)")
			}
		}
		if p.CredentialSpec != nil || p.SELinuxContext != nil || p.AppArmor != nil {
			warn("credential_spec, SELinux and AppArmor options are not carried to Kubernetes")
		}
	}
	if *sc != (corev1.SecurityContext{}) {
		c.SecurityContext = sc
	}
	if cs.StopSignal != "" {
		sig := corev1.Signal(strings.ToUpper(cs.StopSignal))
		if !strings.HasPrefix(string(sig), "SIG") {
			if n, err := strconv.Atoi(string(sig)); err == nil {
				return c, invalid("TaskTemplate.ContainerSpec.StopSignal", "%d: Kubernetes takes signal names, not numbers", n)
			}
			sig = "SIG" + sig
		}
		c.Lifecycle = &corev1.Lifecycle{StopSignal: &sig}
	}
	if hc := cs.Healthcheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		p, err := probe(hc.Test, hc.Interval, hc.Timeout, hc.Retries, hc.StartPeriod)
		if err != nil {
			return c, err
		}
		// Swarm restarts an unhealthy task and routes only to healthy
		// ones: the liveness and the readiness probe.
		c.LivenessProbe = p
		rp := *p
		c.ReadinessProbe = &rp
		c.ReadinessProbe.FailureThreshold = 1
	}
	if cs.Init != nil && *cs.Init {
		warn("init: Kubernetes has no init process option; use an image with one")
	}
	if len(cs.Ulimits) > 0 {
		warn("ulimits: Kubernetes has no per-container rlimits")
	}
	if cs.OomScoreAdj != 0 {
		warn("oom_score_adj: the kubelet sets it from the QoS class")
	}
	if cs.Isolation != "" && cs.Isolation != "default" {
		warn("isolation %q has no meaning on Linux nodes", cs.Isolation)
	}
	return c, nil
}

// probe turns a Docker healthcheck into an exec probe. Kubernetes counts
// in whole seconds (at least 1): intervals are rounded up.
func probe(test []string, interval, timeout time.Duration, retries int, start time.Duration) (*corev1.Probe, error) {
	var cmd []string
	switch test[0] {
	case "CMD":
		cmd = test[1:]
	case "CMD-SHELL":
		if len(test) != 2 {
			return nil, invalid("TaskTemplate.ContainerSpec.Healthcheck.Test", "CMD-SHELL takes one command string")
		}
		cmd = []string{"/bin/sh", "-c", test[1]}
	default:
		return nil, invalid("TaskTemplate.ContainerSpec.Healthcheck.Test", "%q: want NONE, CMD or CMD-SHELL first", test[0])
	}
	if len(cmd) == 0 {
		return nil, invalid("TaskTemplate.ContainerSpec.Healthcheck.Test", "no command")
	}
	orDefault := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	if retries == 0 {
		retries = 3
	}
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
		PeriodSeconds:       seconds(orDefault(interval, 30*time.Second)),
		TimeoutSeconds:      seconds(orDefault(timeout, 30*time.Second)),
		FailureThreshold:    int32(retries),
		InitialDelaySeconds: seconds(start),
	}, nil
}

func podSettings(pod *corev1.PodSpec, cs *swarm.ContainerSpec, warn func(string, ...any)) error {
	if cs.Hostname != "" {
		if strings.Contains(cs.Hostname, "{{") {
			warn("hostname template %q: each pod is named by Kubernetes", cs.Hostname)
		} else if errs := validation.IsDNS1123Label(cs.Hostname); len(errs) > 0 {
			return invalid("TaskTemplate.ContainerSpec.Hostname", "%q: %s", cs.Hostname, strings.Join(errs, "; "))
		} else {
			pod.Hostname = cs.Hostname
		}
	}
	if cs.StopGracePeriod != nil {
		pod.TerminationGracePeriodSeconds = ptr(int64(seconds(*cs.StopGracePeriod)))
	}
	if cs.StopSignal != "" {
		// A container's stop signal needs the pod's OS named.
		pod.OS = &corev1.PodOS{Name: corev1.Linux}
	}
	for _, g := range cs.Groups {
		gid, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return invalid("TaskTemplate.ContainerSpec.Groups", "%q: Kubernetes takes only numeric supplemental groups", g)
		}
		if pod.SecurityContext == nil {
			pod.SecurityContext = &corev1.PodSecurityContext{}
		}
		pod.SecurityContext.SupplementalGroups = append(pod.SecurityContext.SupplementalGroups, gid)
	}
	if len(cs.Sysctls) > 0 {
		if pod.SecurityContext == nil {
			pod.SecurityContext = &corev1.PodSecurityContext{}
		}
		keys := sortedKeys(cs.Sysctls)
		for _, k := range keys {
			pod.SecurityContext.Sysctls = append(pod.SecurityContext.Sysctls, corev1.Sysctl{Name: k, Value: cs.Sysctls[k]})
		}
	}
	for _, h := range cs.Hosts {
		// Swarm's form is "IP host [alias...]"; the CLI also sends "host:IP".
		f := strings.Fields(h)
		if len(f) == 1 {
			host, ip, ok := strings.Cut(h, ":")
			if !ok {
				return invalid("TaskTemplate.ContainerSpec.Hosts", "%q is not \"IP host\"", h)
			}
			f = []string{ip, host}
		}
		if len(f) < 2 {
			return invalid("TaskTemplate.ContainerSpec.Hosts", "%q is not \"IP host\"", h)
		}
		pod.HostAliases = append(pod.HostAliases, corev1.HostAlias{IP: f[0], Hostnames: f[1:]})
	}
	if d := cs.DNSConfig; d != nil {
		pod.DNSConfig = &corev1.PodDNSConfig{Searches: d.Search}
		for _, n := range d.Nameservers {
			pod.DNSConfig.Nameservers = append(pod.DNSConfig.Nameservers, n.String())
		}
		for _, opt := range d.Options {
			k, v, ok := strings.Cut(opt, ":")
			o := corev1.PodDNSConfigOption{Name: k}
			if ok {
				o.Value = &v
			}
			pod.DNSConfig.Options = append(pod.DNSConfig.Options, o)
		}
		if len(d.Nameservers) > 0 {
			// Docker's dns: replaces the resolvers, as dnsPolicy None does.
			pod.DNSPolicy = corev1.DNSNone
		}
	}
	return nil
}

// resources maps limits to limits and reservations to requests. A limit
// without a reservation asks for nothing (request 0), as in swarm, where
// Kubernetes would otherwise request the limit.
func resources(c *corev1.Container, r *swarm.ResourceRequirements, warn func(string, ...any)) error {
	if r == nil {
		return nil
	}
	req := corev1.ResourceRequirements{}
	if l := r.Limits; l != nil {
		if l.NanoCPUs < 0 || l.MemoryBytes < 0 {
			return invalid("TaskTemplate.Resources.Limits", "negative value")
		}
		req.Limits = corev1.ResourceList{}
		if l.NanoCPUs > 0 {
			req.Limits[corev1.ResourceCPU] = cpuQuantity(l.NanoCPUs)
		}
		if l.MemoryBytes > 0 {
			if l.MemoryBytes < 6*1024*1024 {
				return invalid("TaskTemplate.Resources.Limits.MemoryBytes", "%d is below the 6 MB minimum", l.MemoryBytes)
			}
			req.Limits[corev1.ResourceMemory] = *resource.NewQuantity(l.MemoryBytes, resource.BinarySI)
		}
		if l.Pids > 0 {
			warn("pids limit: Kubernetes sets it per node (kubelet podPidsLimit), not per pod")
		}
	}
	req.Requests = corev1.ResourceList{}
	if res := r.Reservations; res != nil {
		if res.NanoCPUs < 0 || res.MemoryBytes < 0 {
			return invalid("TaskTemplate.Resources.Reservations", "negative value")
		}
		if res.NanoCPUs > 0 {
			req.Requests[corev1.ResourceCPU] = cpuQuantity(res.NanoCPUs)
		}
		if res.MemoryBytes > 0 {
			req.Requests[corev1.ResourceMemory] = *resource.NewQuantity(res.MemoryBytes, resource.BinarySI)
		}
		if len(res.GenericResources) > 0 {
			warn("generic_resources: use Kubernetes extended resources")
		}
	}
	for name := range req.Limits {
		if _, ok := req.Requests[name]; !ok {
			req.Requests[name] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	for name, q := range req.Requests {
		if l, ok := req.Limits[name]; ok && q.Cmp(l) > 0 {
			return invalid("TaskTemplate.Resources.Reservations", "%s reservation %s is above its limit %s", name, q.String(), l.String())
		}
	}
	if len(req.Requests) == 0 {
		req.Requests = nil
	}
	c.Resources = req
	return nil
}

// cpuQuantity is NanoCPUs as Kubernetes millicores (its finest unit).
func cpuQuantity(nano int64) resource.Quantity {
	m := nano / 1e6
	if m == 0 {
		m = 1
	}
	return *resource.NewMilliQuantity(m, resource.DecimalSI)
}

// restartPolicy: Deployments and DaemonSets restart every exited
// container (restartPolicy Always), with the kubelet's back-off.
func restartPolicy(rp *swarm.RestartPolicy, warn func(string, ...any)) {
	if rp == nil {
		return
	}
	switch rp.Condition {
	case swarm.RestartPolicyConditionNone:
		warn("restart_policy.condition none: Deployments always restart an exited task (restartPolicy Always)")
	case swarm.RestartPolicyConditionOnFailure:
		warn("restart_policy.condition on-failure: a Deployment also restarts a task that exits 0 (restartPolicy Always)")
	}
	if rp.Delay != nil {
		warn("restart_policy.delay: the kubelet's back-off (10s doubling to 5m) applies")
	}
	if rp.MaxAttempts != nil && *rp.MaxAttempts != 0 {
		warn("restart_policy.max_attempts: Kubernetes restarts without a limit")
	}
	if rp.Window != nil {
		warn("restart_policy.window: Kubernetes has no restart window")
	}
}

// placement turns constraints into required node affinity and spread
// preferences into topology spread constraints.
func placement(pod *corev1.PodSpec, p *swarm.Placement, selector map[string]string, warn func(string, ...any)) error {
	if p == nil {
		return nil
	}
	var reqs []corev1.NodeSelectorRequirement
	for _, c := range p.Constraints {
		r, err := Constraint(c)
		if err != nil {
			return err
		}
		reqs = append(reqs, r)
	}
	if len(reqs) > 0 {
		pod.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: reqs}},
			},
		}}
	}
	for _, pref := range p.Preferences {
		if pref.Spread == nil {
			continue
		}
		key, ok := strings.CutPrefix(pref.Spread.SpreadDescriptor, "node.labels.")
		if !ok {
			if pref.Spread.SpreadDescriptor == "node.id" || pref.Spread.SpreadDescriptor == "node.hostname" {
				key = "kubernetes.io/hostname"
			} else {
				return invalid("TaskTemplate.Placement.Preferences", "spread over %q: only node.labels.*, node.id and node.hostname", pref.Spread.SpreadDescriptor)
			}
		}
		pod.TopologySpreadConstraints = append(pod.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selector},
		})
	}
	if p.MaxReplicas > 0 {
		if p.MaxReplicas == 1 {
			pod.Affinity = orAffinity(pod.Affinity)
			pod.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
					TopologyKey:   "kubernetes.io/hostname",
				}},
			}
		} else {
			warn("placement.max_replicas_per_node %d: Kubernetes can only say one per node", p.MaxReplicas)
		}
	}
	if len(p.Platforms) > 0 {
		// The CLI fills this from the image's manifest list; the kubelet
		// pulls the node's platform itself.
		_ = p.Platforms
	}
	return nil
}

func orAffinity(a *corev1.Affinity) *corev1.Affinity {
	if a == nil {
		return &corev1.Affinity{}
	}
	return a
}

// Constraint parses one swarm placement constraint ("node.role==manager",
// "node.labels.zone!=east") into a node selector requirement.
func Constraint(c string) (corev1.NodeSelectorRequirement, error) {
	var r corev1.NodeSelectorRequirement
	key, val, op := "", "", corev1.NodeSelectorOpIn
	if k, v, ok := strings.Cut(c, "!="); ok {
		key, val, op = k, v, corev1.NodeSelectorOpNotIn
	} else if k, v, ok := strings.Cut(c, "=="); ok {
		key, val = k, v
	} else {
		return r, invalid("TaskTemplate.Placement.Constraints", "%q: want KEY==VALUE or KEY!=VALUE", c)
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch {
	case key == "node.role":
		// Swarm's managers are the control-plane nodes.
		switch val {
		case "manager":
			r.Operator = corev1.NodeSelectorOpExists
		case "worker":
			r.Operator = corev1.NodeSelectorOpDoesNotExist
		default:
			return r, invalid("TaskTemplate.Placement.Constraints", "%q: node.role is manager or worker", c)
		}
		if op == corev1.NodeSelectorOpNotIn {
			if r.Operator == corev1.NodeSelectorOpExists {
				r.Operator = corev1.NodeSelectorOpDoesNotExist
			} else {
				r.Operator = corev1.NodeSelectorOpExists
			}
		}
		r.Key = "node-role.kubernetes.io/control-plane"
		return r, nil
	case key == "node.hostname", key == "node.id":
		// Berth's node IDs are the node names (see NodeFromKube).
		r.Key = "kubernetes.io/hostname"
	case key == "node.platform.os":
		r.Key = "kubernetes.io/os"
	case key == "node.platform.arch":
		r.Key = "kubernetes.io/arch"
		if a, ok := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[val]; ok {
			val = a
		}
	case strings.HasPrefix(key, "node.labels."):
		r.Key = strings.TrimPrefix(key, "node.labels.")
	case strings.HasPrefix(key, "engine.labels."):
		return r, invalid("TaskTemplate.Placement.Constraints", "%q: engine labels do not exist on Kubernetes; use node.labels", c)
	default:
		return r, invalid("TaskTemplate.Placement.Constraints", "%q: unknown key %q", c, key)
	}
	if errs := validation.IsQualifiedName(r.Key); len(errs) > 0 {
		return r, invalid("TaskTemplate.Placement.Constraints", "%q: %s", c, strings.Join(errs, "; "))
	}
	r.Operator, r.Values = op, []string{val}
	return r, nil
}

// mounts: named volumes are directories per node under VolumeRoot (swarm's
// local driver), binds are host paths, tmpfs is a memory emptyDir.
func mounts(pod *corev1.PodSpec, ms []mount.Mount, opts TranslateOptions, warn func(string, ...any)) error {
	c := &pod.Containers[0]
	for i, m := range ms {
		field := fmt.Sprintf("TaskTemplate.ContainerSpec.Mounts[%d]", i)
		if !path.IsAbs(m.Target) {
			return invalid(field+".Target", "%q is not an absolute path", m.Target)
		}
		subPath := ""
		if vo := m.VolumeOptions; vo != nil {
			subPath = vo.Subpath
			if len(vo.Labels) > 0 || (vo.DriverConfig != nil && len(vo.DriverConfig.Options) > 0) {
				warn("mount %s: volume labels and driver options are not carried (the volume is a directory on the node)", m.Target)
			}
		}
		if m.BindOptions != nil && m.BindOptions.Propagation != "" && m.BindOptions.Propagation != mount.PropagationRPrivate {
			warn("mount %s: bind propagation %s is not carried (Kubernetes mounts it private)", m.Target, m.BindOptions.Propagation)
		}
		vname := fmt.Sprintf("mount-%d", i)
		var src corev1.VolumeSource
		switch m.Type {
		case mount.TypeVolume, "":
			switch {
			case m.Source == "":
				src.EmptyDir = &corev1.EmptyDirVolumeSource{}
			case m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil && m.VolumeOptions.DriverConfig.Name != "" && m.VolumeOptions.DriverConfig.Name != "local":
				return invalid(field+".VolumeOptions.DriverConfig", "volume driver %q: only local volumes run on Kubernetes", m.VolumeOptions.DriverConfig.Name)
			default:
				if opts.VolumeRoot == "" {
					return invalid(field, "named volumes need a volume root on the node")
				}
				if strings.ContainsAny(m.Source, "/\\") || m.Source == "." || m.Source == ".." {
					return invalid(field+".Source", "%q is not a volume name", m.Source)
				}
				src.HostPath = &corev1.HostPathVolumeSource{Path: path.Join(opts.VolumeRoot, m.Source), Type: ptr(corev1.HostPathDirectoryOrCreate)}
			}
		case mount.TypeBind:
			if !path.IsAbs(m.Source) {
				return invalid(field+".Source", "bind source %q is not an absolute path", m.Source)
			}
			src.HostPath = &corev1.HostPathVolumeSource{Path: m.Source}
		case mount.TypeTmpfs:
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if m.TmpfsOptions != nil && m.TmpfsOptions.SizeBytes > 0 {
				ed.SizeLimit = resource.NewQuantity(m.TmpfsOptions.SizeBytes, resource.BinarySI)
			}
			src.EmptyDir = ed
		default:
			return invalid(field+".Type", "mount type %q is not supported on Kubernetes", m.Type)
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vname, VolumeSource: src})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: m.Target, ReadOnly: m.ReadOnly, SubPath: subPath})
	}
	return nil
}

// SecretObjectName and ConfigObjectName name the copies of a swarm secret
// or config in a service's namespace.
func SecretObjectName(name string) string { return "swarm-secret-" + kubeName(name) }
func ConfigObjectName(name string) string { return "swarm-config-" + kubeName(name) }

// DataKey is the key of a secret's or config's content.
const DataKey = "data"

// secretsAndConfigs mounts secrets in /run/secrets/TARGET (one projected
// volume) and each config at its target (default /NAME).
func secretsAndConfigs(pod *corev1.PodSpec, cs *swarm.ContainerSpec) (secrets, configs []string) {
	c := &pod.Containers[0]
	var proj []corev1.VolumeProjection
	for _, s := range cs.Secrets {
		if s == nil {
			continue
		}
		secrets = append(secrets, s.SecretName)
		target := s.SecretName
		var mode *int32
		if s.File != nil {
			if s.File.Name != "" {
				target = s.File.Name
			}
			mode = ptr(int32(s.File.Mode.Perm()))
		}
		if path.IsAbs(target) {
			vname := fmt.Sprintf("secret-%d", len(pod.Volumes))
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: SecretObjectName(s.SecretName), DefaultMode: mode,
			}}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: target, SubPath: DataKey, ReadOnly: true})
			continue
		}
		proj = append(proj, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: SecretObjectName(s.SecretName)},
			Items:                []corev1.KeyToPath{{Key: DataKey, Path: target, Mode: mode}},
		}})
	}
	if len(proj) > 0 {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "secrets", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: proj}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "secrets", MountPath: secretsDir, ReadOnly: true})
	}
	for _, cf := range cs.Configs {
		if cf == nil {
			continue
		}
		if cf.Runtime != nil {
			continue // credential specs: Windows only
		}
		configs = append(configs, cf.ConfigName)
		target := "/" + cf.ConfigName
		var mode *int32
		if cf.File != nil {
			if cf.File.Name != "" {
				target = cf.File.Name
			}
			mode = ptr(int32(cf.File.Mode.Perm()))
		}
		if !path.IsAbs(target) {
			target = "/" + target
		}
		vname := fmt.Sprintf("config-%d", len(pod.Volumes))
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigObjectName(cf.ConfigName)}, DefaultMode: mode,
		}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: target, SubPath: DataKey, ReadOnly: true})
	}
	return secrets, configs
}

// ports: ingress ports become ports of the Service (published → port,
// target → targetPort), which the node's ingress forwarder serves on the
// published port of every node; host ports become the container's host
// ports.
func ports(c *corev1.Container, ep *swarm.EndpointSpec) ([]corev1.ServicePort, error) {
	if ep == nil {
		return nil, nil
	}
	var out []corev1.ServicePort
	seen := map[string]bool{}
	for i, p := range ep.Ports {
		field := fmt.Sprintf("EndpointSpec.Ports[%d]", i)
		if p.TargetPort == 0 || p.TargetPort > 65535 {
			return nil, invalid(field+".TargetPort", "%d is not a port", p.TargetPort)
		}
		if p.PublishedPort > 65535 {
			return nil, invalid(field+".PublishedPort", "%d is not a port", p.PublishedPort)
		}
		proto := corev1.ProtocolTCP
		switch strings.ToLower(string(p.Protocol)) {
		case "", "tcp":
		case "udp":
			proto = corev1.ProtocolUDP
		case "sctp":
			proto = corev1.ProtocolSCTP
		default:
			return nil, invalid(field+".Protocol", "%q", p.Protocol)
		}
		key := fmt.Sprintf("%d/%s", p.PublishedPort, proto)
		if p.PublishedPort != 0 && seen[key] {
			return nil, invalid(field+".PublishedPort", "port %s is published twice", key)
		}
		seen[key] = true
		switch p.PublishMode {
		case swarm.PortConfigPublishModeHost:
			cp := corev1.ContainerPort{ContainerPort: int32(p.TargetPort), Protocol: proto, HostPort: int32(p.PublishedPort)}
			c.Ports = append(c.Ports, cp)
		case swarm.PortConfigPublishModeIngress, "":
			if p.PublishedPort == 0 {
				return nil, invalid(field+".PublishedPort", "an ingress port needs a published port (the front end assigns one)")
			}
			out = append(out, corev1.ServicePort{
				Name:       fmt.Sprintf("%s-%d", strings.ToLower(string(proto)), p.PublishedPort),
				Protocol:   proto,
				Port:       int32(p.PublishedPort),
				TargetPort: intstr.FromInt32(int32(p.TargetPort)),
			})
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(p.TargetPort), Protocol: proto})
		default:
			return nil, invalid(field+".PublishMode", "%q", p.PublishMode)
		}
	}
	return out, nil
}

// deploymentStrategy: parallelism tasks at a time, stop-first by removing
// (maxUnavailable) and start-first by adding (maxSurge) that many.
func deploymentStrategy(uc *swarm.UpdateConfig) appsv1.DeploymentStrategy {
	surge, unavail := rollingAmounts(uc)
	return appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail},
	}
}

func daemonSetStrategy(uc *swarm.UpdateConfig) appsv1.DaemonSetUpdateStrategy {
	surge, unavail := rollingAmounts(uc)
	return appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavail},
	}
}

func rollingAmounts(uc *swarm.UpdateConfig) (surge, unavail intstr.IntOrString) {
	// Swarm's default: one task at a time, stop-first.
	n := intstr.FromInt32(1)
	order := swarm.UpdateOrderStopFirst
	if uc != nil {
		if uc.Parallelism == 0 {
			n = intstr.FromString("100%")
		} else if uc.Parallelism < math.MaxInt32 {
			n = intstr.FromInt32(int32(uc.Parallelism))
		}
		if uc.Order != "" {
			order = uc.Order
		}
	}
	if order == swarm.UpdateOrderStartFirst {
		return n, intstr.FromInt32(0)
	}
	return intstr.FromInt32(0), n
}

func updateConfigWarnings(uc *swarm.UpdateConfig, key string, warn func(string, ...any)) {
	if uc == nil {
		return
	}
	if uc.MaxFailureRatio != 0 {
		warn("%s.max_failure_ratio: a rollout fails when it makes no progress for monitor+delay", key)
	}
	if uc.FailureAction == swarm.UpdateFailureActionContinue {
		warn("%s.failure_action continue: a stalled Kubernetes rollout stays paused", key)
	}
}

// seconds rounds d up to whole seconds, as Kubernetes counts.
func seconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(s)
}

func validLabel(k, v string) bool {
	return len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptr[T any](v T) *T { return &v }
