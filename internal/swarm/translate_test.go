package swarm

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func u64(v uint64) *uint64               { return &v }
func dur(d time.Duration) *time.Duration { return &d }

// tutorialWeb is the spec docker CLI 28's `stack deploy` sends for the
// tutorial's web service (docker-compose.yml of "Get started", part 3).
func tutorialWeb() swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "getstartedlab_web", Labels: map[string]string{LabelStack: "getstartedlab"}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:  "friendlyhello:latest",
				Labels: map[string]string{LabelStack: "getstartedlab"},
				Env:    []string{"NAME=World"},
			},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 100000000, MemoryBytes: 52428800}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure},
			Placement:     &swarm.Placement{},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "getstartedlab_webnet", Aliases: []string{"web"}}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: u64(5)}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeIngress}}},
	}
}

func mustTranslate(t *testing.T, spec swarm.ServiceSpec) *Objects {
	t.Helper()
	o, err := Translate(spec, TranslateOptions{VolumeRoot: "/var/lib/berth/swarm/volumes"})
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	return o
}

func TestTranslateTutorial(t *testing.T) {
	o := mustTranslate(t, tutorialWeb())
	if o.Namespace != "getstartedlab" || o.Name != "web" {
		t.Fatalf("namespace/name = %s/%s", o.Namespace, o.Name)
	}
	d := o.Deployment
	if d == nil || o.DaemonSet != nil {
		t.Fatal("a replicated service is a Deployment")
	}
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas %d", *d.Spec.Replicas)
	}
	for _, l := range []map[string]string{d.Labels, d.Spec.Template.Labels, o.Service.Labels} {
		if l[LabelStack] != "getstartedlab" || l[LabelService] != "getstartedlab_web" {
			t.Errorf("labels %v lack Docker's stack and service labels", l)
		}
	}
	if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, map[string]string{LabelService: "getstartedlab_web"}) || !reflect.DeepEqual(o.Service.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("selectors %v / %v", d.Spec.Selector.MatchLabels, o.Service.Spec.Selector)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "friendlyhello:latest" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s pull %s: a locally built image must not be pulled", c.Image, c.ImagePullPolicy)
	}
	if !reflect.DeepEqual(c.Env, []corev1.EnvVar{{Name: "NAME", Value: "World"}}) {
		t.Errorf("env %v", c.Env)
	}
	cpu, mem := c.Resources.Limits[corev1.ResourceCPU], c.Resources.Limits[corev1.ResourceMemory]
	if cpu.MilliValue() != 100 || mem.Value() != 52428800 {
		t.Errorf("limits cpu %s memory %s, want 100m and 50Mi", cpu.String(), mem.String())
	}
	rc, rm := c.Resources.Requests[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceMemory]
	if !rc.IsZero() || !rm.IsZero() {
		t.Errorf("requests %v: swarm reserves nothing without reservations", c.Resources.Requests)
	}
	if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("restart policy %s", d.Spec.Template.Spec.RestartPolicy)
	}
	if !hasWarning(o, "restart_policy.condition on-failure") {
		t.Errorf("on-failure is not what a Deployment does; warnings %v", o.Warnings)
	}
	// Published 80 on the Service, to target 80 in the pods.
	if len(o.Service.Spec.Ports) != 1 || o.Service.Spec.Ports[0].Port != 80 || o.Service.Spec.Ports[0].TargetPort != intstr.FromInt32(80) || o.Service.Spec.ClusterIP != "" {
		t.Errorf("service ports %+v clusterIP %q", o.Service.Spec.Ports, o.Service.Spec.ClusterIP)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 80 || c.Ports[0].HostPort != 0 {
		t.Errorf("container ports %+v", c.Ports)
	}
	// Swarm's default update: one at a time, stop-first.
	ru := d.Spec.Strategy.RollingUpdate
	if *ru.MaxUnavailable != intstr.FromInt32(1) || *ru.MaxSurge != intstr.FromInt32(0) {
		t.Errorf("rolling update %v/%v", ru.MaxSurge, ru.MaxUnavailable)
	}
	// The container labels travel as annotations, the spec in full.
	if d.Spec.Template.Annotations["berth.swarm/label."+LabelStack] != "getstartedlab" {
		t.Errorf("pod annotations %v", d.Spec.Template.Annotations)
	}
	var back swarm.ServiceSpec
	if err := json.Unmarshal([]byte(d.Annotations[AnnotationSpec]), &back); err != nil || !reflect.DeepEqual(back, tutorialWeb()) {
		t.Errorf("spec annotation does not round-trip: %v\n%+v", err, back)
	}
}

func hasWarning(o *Objects, prefix string) bool {
	for _, w := range o.Warnings {
		if strings.HasPrefix(w, "service "+o.spec+": "+prefix) {
			return true
		}
	}
	return false
}

func TestTranslateContainer(t *testing.T) {
	spec := tutorialWeb()
	spec.Labels = nil
	spec.Name = "api_v2"
	cs := spec.TaskTemplate.ContainerSpec
	cs.Command = []string{"/bin/server"}
	cs.Args = []string{"--port", "80"}
	cs.Dir = "/srv"
	cs.User = "1000:1001"
	cs.Groups = []string{"27"}
	cs.Hostname = "api"
	cs.StopSignal = "SIGINT"
	cs.StopGracePeriod = dur(1500 * time.Millisecond)
	cs.ReadOnly = true
	cs.CapabilityAdd = []string{"CAP_NET_ADMIN"}
	cs.CapabilityDrop = []string{"mknod"}
	cs.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	cs.Hosts = []string{"10.0.0.1 db db.local", "cache:10.0.0.2"}
	cs.DNSConfig = &swarm.DNSConfig{Nameservers: []netip.Addr{netip.MustParseAddr("10.0.0.53")}, Search: []string{"example.com"}, Options: []string{"ndots:2"}}
	cs.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"}, Interval: 5 * time.Second, Timeout: 1500 * time.Millisecond, Retries: 4, StartPeriod: 10 * time.Second}
	cs.Env = []string{"A=1", "B=x=y", "PASSTHROUGH"}
	spec.TaskTemplate.Resources.Reservations = &swarm.Resources{NanoCPUs: 50000000, MemoryBytes: 20 << 20}
	o := mustTranslate(t, spec)
	if o.Namespace != "default" || o.Name != "api-v2" {
		t.Fatalf("namespace/name %s/%s", o.Namespace, o.Name)
	}
	pod := o.Deployment.Spec.Template.Spec
	c := pod.Containers[0]
	if !reflect.DeepEqual(c.Command, []string{"/bin/server"}) || !reflect.DeepEqual(c.Args, []string{"--port", "80"}) || c.WorkingDir != "/srv" {
		t.Errorf("command %v args %v dir %s", c.Command, c.Args, c.WorkingDir)
	}
	if !reflect.DeepEqual(c.Env, []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}) {
		t.Errorf("env %v", c.Env)
	}
	sc := c.SecurityContext
	if *sc.RunAsUser != 1000 || *sc.RunAsGroup != 1001 || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("security context %+v", sc)
	}
	if !reflect.DeepEqual(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN"}) || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"MKNOD"}) {
		t.Errorf("capabilities %+v", sc.Capabilities)
	}
	if !reflect.DeepEqual(pod.SecurityContext.SupplementalGroups, []int64{27}) || pod.SecurityContext.Sysctls[0] != (corev1.Sysctl{Name: "net.core.somaxconn", Value: "1024"}) {
		t.Errorf("pod security context %+v", pod.SecurityContext)
	}
	if pod.Hostname != "api" || *pod.TerminationGracePeriodSeconds != 2 {
		t.Errorf("hostname %q grace %d (1.5s rounds up to 2)", pod.Hostname, *pod.TerminationGracePeriodSeconds)
	}
	if *c.Lifecycle.StopSignal != "SIGINT" || pod.OS == nil || pod.OS.Name != corev1.Linux {
		t.Errorf("stop signal %v os %v", c.Lifecycle, pod.OS)
	}
	if !reflect.DeepEqual(pod.HostAliases, []corev1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"db", "db.local"}}, {IP: "10.0.0.2", Hostnames: []string{"cache"}}}) {
		t.Errorf("host aliases %v", pod.HostAliases)
	}
	if pod.DNSPolicy != corev1.DNSNone || !reflect.DeepEqual(pod.DNSConfig.Nameservers, []string{"10.0.0.53"}) || *pod.DNSConfig.Options[0].Value != "2" {
		t.Errorf("dns %s %+v", pod.DNSPolicy, pod.DNSConfig)
	}
	lp := c.LivenessProbe
	if lp == nil || !reflect.DeepEqual(lp.Exec.Command, []string{"/bin/sh", "-c", "wget -q -O- http://127.0.0.1/ || exit 1"}) ||
		lp.PeriodSeconds != 5 || lp.TimeoutSeconds != 2 || lp.FailureThreshold != 4 || lp.InitialDelaySeconds != 10 {
		t.Errorf("liveness probe %+v", lp)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.FailureThreshold != 1 || c.ReadinessProbe.Exec.Command[2] != lp.Exec.Command[2] {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	rc, rm := c.Resources.Requests[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceMemory]
	if rc.MilliValue() != 50 || rm.Value() != 20<<20 {
		t.Errorf("requests %v", c.Resources.Requests)
	}

	// A healthcheck of NONE turns the image's off: no probes.
	cs.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	if c := mustTranslate(t, spec).Deployment.Spec.Template.Spec.Containers[0]; c.LivenessProbe != nil || c.ReadinessProbe != nil {
		t.Errorf("NONE healthcheck made probes")
	}
}

func TestTranslateGlobalAndUpdateConfig(t *testing.T) {
	spec := tutorialWeb()
	spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, Order: swarm.UpdateOrderStartFirst, FailureAction: swarm.UpdateFailureActionRollback}
	o := mustTranslate(t, spec)
	if o.DaemonSet == nil || o.Deployment != nil {
		t.Fatal("a global service is a DaemonSet")
	}
	ru := o.DaemonSet.Spec.UpdateStrategy.RollingUpdate
	if *ru.MaxSurge != intstr.FromInt32(2) || *ru.MaxUnavailable != intstr.FromInt32(0) || o.DaemonSet.Spec.MinReadySeconds != 10 {
		t.Errorf("daemonset update %v/%v min ready %d", ru.MaxSurge, ru.MaxUnavailable, o.DaemonSet.Spec.MinReadySeconds)
	}

	spec = tutorialWeb()
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 0, Monitor: 5 * time.Second, Delay: 2 * time.Second, MaxFailureRatio: 0.2, FailureAction: swarm.UpdateFailureActionContinue}
	o = mustTranslate(t, spec)
	d := o.Deployment
	if *d.Spec.Strategy.RollingUpdate.MaxUnavailable != intstr.FromString("100%") || *d.Spec.Strategy.RollingUpdate.MaxSurge != intstr.FromInt32(0) {
		t.Errorf("parallelism 0 (all at once): %v", d.Spec.Strategy.RollingUpdate)
	}
	if d.Spec.MinReadySeconds != 2 || *d.Spec.ProgressDeadlineSeconds != 8 {
		t.Errorf("min ready %d deadline %d", d.Spec.MinReadySeconds, *d.Spec.ProgressDeadlineSeconds)
	}
	if !hasWarning(o, "update_config.max_failure_ratio") || !hasWarning(o, "update_config.failure_action continue") {
		t.Errorf("warnings %v", o.Warnings)
	}

	spec = tutorialWeb()
	spec.TaskTemplate.ForceUpdate = 3
	if a := mustTranslate(t, spec).Deployment.Spec.Template.Annotations["berth.swarm/force-update"]; a != "3" {
		t.Errorf("force update annotation %q", a)
	}
}

func TestTranslatePlacement(t *testing.T) {
	spec := tutorialWeb()
	spec.TaskTemplate.Placement = &swarm.Placement{
		Constraints: []string{"node.role==manager", "node.role != worker", "node.hostname==berth-1", "node.labels.zone!=east", "node.platform.arch==x86_64"},
		Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.rack"}}},
		MaxReplicas: 1,
	}
	pod := mustTranslate(t, spec).Deployment.Spec.Template.Spec
	got := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions
	want := []corev1.NodeSelectorRequirement{
		{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.NodeSelectorOpExists},
		{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.NodeSelectorOpExists},
		{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"berth-1"}},
		{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"east"}},
		{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("node affinity\n got %+v\nwant %+v", got, want)
	}
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].TopologyKey != "rack" || pod.TopologySpreadConstraints[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("spread %+v", pod.TopologySpreadConstraints)
	}
	if pod.Affinity.PodAntiAffinity == nil || pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("max one replica per node: %+v", pod.Affinity.PodAntiAffinity)
	}
}

func TestTranslateMountsSecretsConfigs(t *testing.T) {
	spec := tutorialWeb()
	cs := spec.TaskTemplate.ContainerSpec
	cs.Mounts = []mount.Mount{
		{Type: mount.TypeVolume, Source: "getstartedlab_data", Target: "/data"},
		{Type: mount.TypeVolume, Target: "/scratch"},
		{Type: mount.TypeBind, Source: "/etc/ssl", Target: "/ssl", ReadOnly: true},
		{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
		{Type: mount.TypeVolume, Source: "shared", Target: "/part", VolumeOptions: &mount.VolumeOptions{Subpath: "a/b", Labels: map[string]string{"k": "v"}}},
		{Type: mount.TypeBind, Source: "/mnt", Target: "/mnt", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}},
	}
	cs.Secrets = []*swarm.SecretReference{
		{SecretName: "db_password", SecretID: "s1", File: &swarm.SecretReferenceFileTarget{Name: "db_password", Mode: 0o400}},
		{SecretName: "tls", SecretID: "s2", File: &swarm.SecretReferenceFileTarget{Name: "/etc/tls.pem", Mode: 0o444}},
	}
	cs.Configs = []*swarm.ConfigReference{
		{ConfigName: "nginx_conf", ConfigID: "c1", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx/nginx.conf", Mode: 0o444}},
		{ConfigName: "motd", ConfigID: "c2"},
	}
	o := mustTranslate(t, spec)
	if !reflect.DeepEqual(o.Secrets, []string{"db_password", "tls"}) || !reflect.DeepEqual(o.Configs, []string{"nginx_conf", "motd"}) {
		t.Errorf("secrets %v configs %v", o.Secrets, o.Configs)
	}
	pod := o.Deployment.Spec.Template.Spec
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.MountPath] = m
	}
	if hp := vols[mounts["/data"].Name].HostPath; hp == nil || hp.Path != "/var/lib/berth/swarm/volumes/getstartedlab_data" || *hp.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("named volume: %+v", vols[mounts["/data"].Name])
	}
	if vols[mounts["/scratch"].Name].EmptyDir == nil {
		t.Errorf("anonymous volume is not an emptyDir")
	}
	if hp := vols[mounts["/ssl"].Name].HostPath; hp == nil || hp.Path != "/etc/ssl" || !mounts["/ssl"].ReadOnly {
		t.Errorf("bind: %+v %+v", vols[mounts["/ssl"].Name], mounts["/ssl"])
	}
	if ed := vols[mounts["/tmp"].Name].EmptyDir; ed == nil || ed.Medium != corev1.StorageMediumMemory || ed.SizeLimit.Value() != 1<<20 {
		t.Errorf("tmpfs: %+v", vols[mounts["/tmp"].Name])
	}
	proj := vols[mounts["/run/secrets"].Name].Projected
	if proj == nil || len(proj.Sources) != 1 || proj.Sources[0].Secret.Name != "swarm-secret-db-password" ||
		proj.Sources[0].Secret.Items[0].Path != "db_password" || *proj.Sources[0].Secret.Items[0].Mode != 0o400 {
		t.Errorf("/run/secrets: %+v", vols[mounts["/run/secrets"].Name])
	}
	if m := mounts["/etc/tls.pem"]; m.SubPath != DataKey || vols[m.Name].Secret.SecretName != "swarm-secret-tls" {
		t.Errorf("absolute secret target: %+v", m)
	}
	if m := mounts["/etc/nginx/nginx.conf"]; m.SubPath != DataKey || vols[m.Name].ConfigMap.Name != "swarm-config-nginx-conf" {
		t.Errorf("config at its target: %+v", m)
	}
	if m := mounts["/part"]; m.SubPath != "a/b" || vols[m.Name].HostPath == nil || vols[m.Name].HostPath.Path != "/var/lib/berth/swarm/volumes/shared" {
		t.Errorf("volume-subpath: %+v", m)
	}
	warned := strings.Join(o.Warnings, "\n")
	if !strings.Contains(warned, "mount /part: volume labels") || !strings.Contains(warned, "mount /mnt: bind propagation rshared") {
		t.Errorf("mount options that are not carried are not named: %v", o.Warnings)
	}
	if _, ok := mounts["/motd"]; !ok {
		t.Errorf("a config without a target goes to /NAME: %v", mounts)
	}
}

func TestTranslatePorts(t *testing.T) {
	spec := tutorialWeb()
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{
		{TargetPort: 80, PublishedPort: 8080},
		{Protocol: "udp", TargetPort: 53, PublishedPort: 5353},
		{TargetPort: 9000, PublishedPort: 9000, PublishMode: swarm.PortConfigPublishModeHost},
	}}
	o := mustTranslate(t, spec)
	sp := o.Service.Spec.Ports
	if len(sp) != 2 || sp[0].Port != 8080 || sp[0].TargetPort.IntValue() != 80 || sp[1].Protocol != corev1.ProtocolUDP || sp[1].Port != 5353 {
		t.Errorf("service ports %+v", sp)
	}
	cp := o.Deployment.Spec.Template.Spec.Containers[0].Ports
	if len(cp) != 3 || cp[2] != (corev1.ContainerPort{ContainerPort: 9000, HostPort: 9000, Protocol: corev1.ProtocolTCP}) {
		t.Errorf("container ports %+v", cp)
	}
	// No ports: a headless Service, so the name still resolves.
	spec.EndpointSpec = nil
	if o := mustTranslate(t, spec); o.Service.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("portless service clusterIP %q", o.Service.Spec.ClusterIP)
	}
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	if o := mustTranslate(t, spec); o.Service.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("dnsrr service clusterIP %q", o.Service.Spec.ClusterIP)
	}
}

// TestTranslateInvalid: each bad spec is a 400 naming its field, and
// Translate makes nothing.
func TestTranslateInvalid(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*swarm.ServiceSpec)
	}{
		{"Name", func(s *swarm.ServiceSpec) { s.Name = "" }},
		{"Name", func(s *swarm.ServiceSpec) { s.Name = "getstartedlab_Web!" }},
		{"TaskTemplate.ContainerSpec.Image", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "" }},
		{"TaskTemplate.ContainerSpec", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec = nil }},
		{"TaskTemplate.ContainerSpec.User", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.User = "www-data" }},
		{"TaskTemplate.ContainerSpec.Dir", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Dir = "srv" }},
		{"TaskTemplate.ContainerSpec.Env", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"=x"} }},
		{"TaskTemplate.ContainerSpec.Healthcheck.Test", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"RUN", "x"}}
		}},
		{"TaskTemplate.Resources.Limits.MemoryBytes", func(s *swarm.ServiceSpec) { s.TaskTemplate.Resources.Limits.MemoryBytes = 1024 }},
		{"TaskTemplate.Resources.Reservations", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources.Reservations = &swarm.Resources{MemoryBytes: 100 << 20}
		}},
		{"TaskTemplate.Placement.Constraints", func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"node.role=manager"} }},
		{"TaskTemplate.Placement.Constraints", func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"engine.labels.x==y"} }},
		{"TaskTemplate.Placement.Constraints", func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"node.role==boss"} }},
		{"TaskTemplate.ContainerSpec.Mounts[0].Target", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "data"}}
		}},
		{"TaskTemplate.ContainerSpec.Mounts[0].Type", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: mount.TypeNamedPipe, Source: "v", Target: "/data"}}
		}},
		{"EndpointSpec.Ports[0].TargetPort", func(s *swarm.ServiceSpec) { s.EndpointSpec.Ports[0].TargetPort = 0 }},
		{"EndpointSpec.Ports[1].PublishedPort", func(s *swarm.ServiceSpec) {
			s.EndpointSpec.Ports = append(s.EndpointSpec.Ports, s.EndpointSpec.Ports[0])
		}},
		{"Mode", func(s *swarm.ServiceSpec) { s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}} }},
		{"EndpointSpec.Ports", func(s *swarm.ServiceSpec) { s.EndpointSpec.Mode = swarm.ResolutionModeDNSRR }},
	}
	for _, c := range cases {
		spec := tutorialWeb()
		c.edit(&spec)
		o, err := Translate(spec, TranslateOptions{})
		if err == nil || o != nil {
			t.Errorf("%s: no error", c.field)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid "+c.field+":") {
			t.Errorf("%s: error %q (class invalid: %v)", c.field, err, errors.Is(err, errdefs.ErrInvalid))
		}
	}
}

// TestServiceFromKube is inspect: the spec comes back as sent, with the
// generation as version, the VIP on the stack network and the rollout.
func TestServiceFromKube(t *testing.T) {
	o := mustTranslate(t, tutorialWeb())
	d := o.Deployment
	d.UID = "0b7c2f3e-1a2b-4c5d-8e9f-001122334455"
	d.Generation = 3
	d.CreationTimestamp = metav1.NewTime(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	prev := tutorialWeb()
	prev.Mode.Replicated.Replicas = u64(3)
	pj, _ := json.Marshal(prev)
	d.Annotations[AnnotationPrev] = string(pj)
	started := time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC)
	uj, _ := json.Marshal(swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started})
	d.Annotations[AnnotationState] = string(uj)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 5, UpdatedReplicas: 5, AvailableReplicas: 5, ReadyReplicas: 5}
	o.Service.Spec.ClusterIP = "10.96.0.20"
	s, err := ServiceFromKube(Workload{Deployment: d}, o.Service, map[string]string{"getstartedlab_webnet": "netid1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "0b7c2f3e1a2b4c5d8e9f001122334455" || s.Version.Index != 3 || !reflect.DeepEqual(s.Spec, tutorialWeb()) {
		t.Errorf("service %s v%d spec %+v", s.ID, s.Version.Index, s.Spec)
	}
	if s.PreviousSpec == nil || *s.PreviousSpec.Mode.Replicated.Replicas != 3 {
		t.Errorf("previous spec %+v", s.PreviousSpec)
	}
	if s.UpdateStatus == nil || s.UpdateStatus.State != swarm.UpdateStateCompleted || s.UpdatedAt != started {
		t.Errorf("update status %+v updated %v", s.UpdateStatus, s.UpdatedAt)
	}
	if len(s.Endpoint.VirtualIPs) != 1 || s.Endpoint.VirtualIPs[0].NetworkID != "netid1" || s.Endpoint.VirtualIPs[0].Addr.String() != "10.96.0.20/32" {
		t.Errorf("VIPs %+v", s.Endpoint.VirtualIPs)
	}
	if len(s.Endpoint.Ports) != 1 || s.Endpoint.Ports[0].PublishMode != swarm.PortConfigPublishModeIngress {
		t.Errorf("endpoint ports %+v", s.Endpoint.Ports)
	}
	if st := ServiceStatus(Workload{Deployment: d}); st.DesiredTasks != 5 || st.RunningTasks != 5 {
		t.Errorf("status %+v", st)
	}
	// A done rollout is completed once it has stayed done for the
	// update's monitor period (5 s by default; whole seconds kept).
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "NewReplicaSetAvailable", LastUpdateTime: metav1.NewTime(started.Add(time.Minute))}}
	for _, c := range []struct {
		after   time.Duration
		monitor time.Duration
		want    bool
	}{{5 * time.Second, 0, false}, {6 * time.Second, 0, true}, {6 * time.Second, 10 * time.Second, false}, {11 * time.Second, 10 * time.Second, true}} {
		spec := tutorialWeb()
		spec.UpdateConfig = &swarm.UpdateConfig{Monitor: c.monitor}
		if got := RolloutSettled(d, spec, swarm.UpdateStateUpdating, started.Add(time.Minute+c.after)); got != c.want {
			t.Errorf("settled %v after the rollout, monitor %v: %v", c.after, c.monitor, got)
		}
	}
	// A stalled rollout is a paused update, with the reason.
	d.Status.UpdatedReplicas = 2
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-x" has timed out progressing.`}}
	s, _ = ServiceFromKube(Workload{Deployment: d}, o.Service, nil)
	if s.UpdateStatus.State != swarm.UpdateStatePaused || !strings.Contains(s.UpdateStatus.Message, "timed out") {
		t.Errorf("stalled update %+v", s.UpdateStatus)
	}
}

func pod(name, rev string, created time.Time, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("u-" + metav1UID(name)), Labels: map[string]string{"pod-template-hash": rev}, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "task", Image: "friendlyhello"}}},
	}
}

func metav1UID(s string) string { return strings.ReplaceAll(s, "-", "") }

func TestTasksFromPods(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	running := pod("web-a-1", "a", t0, "berth-1")
	running.Status.StartTime = &metav1.Time{Time: t0}
	running.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "task", Ready: true, RestartCount: 2, ContainerID: "berth://abc123",
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0.Add(time.Minute))}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", ContainerID: "berth://old"}},
	}}
	pulling := pod("web-a-2", "a", t0.Add(time.Second), "berth-1")
	pulling.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "task", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}
	pending := pod("web-a-3", "a", t0.Add(2*time.Second), "")
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/1 nodes are available"}}
	old := pod("web-b-1", "b", t0.Add(-time.Hour), "berth-1")
	now := metav1.Now()
	old.DeletionTimestamp = &now
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "task", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143}}}}

	pts := AssignSlots([]*corev1.Pod{pulling, old, pending, running}, false)
	slots := map[string]int{}
	for _, pt := range pts {
		slots[pt.Pod.Name] = pt.Slot
	}
	if !reflect.DeepEqual(slots, map[string]int{"web-a-1": 1, "web-a-2": 2, "web-a-3": 3, "web-b-1": 1}) {
		t.Errorf("slots %v", slots)
	}
	spec := tutorialWeb().TaskTemplate
	ts := TasksFromPod(PodTask{Pod: running, Slot: 1}, "svc", spec, true)
	if len(ts) != 2 {
		t.Fatalf("a restarted pod is two tasks, got %d", len(ts))
	}
	if ts[0].DesiredState != swarm.TaskStateShutdown || ts[0].Status.State != swarm.TaskStateFailed || ts[0].Status.Err != "task: non-zero exit (137): OOM killed" || ts[0].Slot != 1 {
		t.Errorf("history task %+v", ts[0])
	}
	if again := TasksFromPod(PodTask{Pod: running, Slot: 1}, "svc", spec, true); again[0].ID != ts[0].ID || len(ts[0].ID) != 32 || strings.HasPrefix(ts[1].ID, ts[0].ID[:12]) ||
		ts[0].Status.ContainerStatus.ContainerID != "old" {
		t.Errorf("history task %s (again %s) of task %s: the same while Kubernetes reports the run, apart in the 12 characters the CLI shows, with the run's container", ts[0].ID, again[0].ID, ts[1].ID)
	}
	if ts[1].Status.State != swarm.TaskStateRunning || ts[1].DesiredState != swarm.TaskStateRunning || ts[1].NodeID != "berth-1" || ts[1].Status.ContainerStatus.ContainerID != "abc123" || ts[1].ServiceID != "svc" {
		t.Errorf("running task %+v", ts[1])
	}
	if ts := TasksFromPod(PodTask{Pod: pulling, Slot: 2}, "svc", spec, true); ts[0].Status.State != swarm.TaskStateRejected || !strings.HasPrefix(ts[0].Status.Err, "No such image: friendlyhello") {
		t.Errorf("pull failure %+v", ts[0].Status)
	}
	if ts := TasksFromPod(PodTask{Pod: pending, Slot: 3}, "svc", spec, true); ts[0].Status.State != swarm.TaskStatePending || !strings.Contains(ts[0].Status.Err, "0/1 nodes") {
		t.Errorf("unschedulable %+v", ts[0].Status)
	}
	if ts := TasksFromPod(PodTask{Pod: old, Slot: 1}, "svc", spec, false); ts[0].DesiredState != swarm.TaskStateShutdown || ts[0].Status.State != swarm.TaskStateShutdown {
		t.Errorf("replaced task %+v", ts[0])
	}
}

func TestNodes(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "berth-1", ResourceVersion: "42", Labels: map[string]string{
			"kubernetes.io/hostname": "berth-1", "node-role.kubernetes.io/control-plane": "", "zone": "east",
		}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}},
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
			NodeInfo:   corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", ContainerRuntimeVersion: "berth://0.1"},
		},
	}
	sn := NodeFromKube(n, "berth-1")
	if sn.ID != "berth-1" || sn.Version.Index != 42 || sn.Spec.Role != swarm.NodeRoleManager || sn.Status.State != swarm.NodeStateReady ||
		sn.ManagerStatus == nil || !sn.ManagerStatus.Leader || sn.Description.Platform.Architecture != "x86_64" ||
		sn.Description.Resources.NanoCPUs != 2e9 || sn.Status.Addr != "10.0.0.5" || sn.Spec.Availability != swarm.NodeAvailabilityActive {
		t.Errorf("node %+v", sn)
	}
	if !reflect.DeepEqual(sn.Spec.Labels, map[string]string{"zone": "east"}) {
		t.Errorf("user labels %v", sn.Spec.Labels)
	}
	spec := sn.Spec
	spec.Labels = map[string]string{"rack": "r1"}
	spec.Availability = swarm.NodeAvailabilityDrain
	if err := ApplyNodeSpec(n, spec); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Labels["zone"]; ok || n.Labels["rack"] != "r1" || n.Labels["kubernetes.io/hostname"] != "berth-1" {
		t.Errorf("labels after update %v", n.Labels)
	}
	if !n.Spec.Unschedulable || NodeAvailability(n) != swarm.NodeAvailabilityDrain {
		t.Errorf("drain: %+v", n.Spec)
	}
	spec.Availability = swarm.NodeAvailabilityPause
	_ = ApplyNodeSpec(n, spec)
	if !n.Spec.Unschedulable || len(n.Spec.Taints) != 0 || NodeAvailability(n) != swarm.NodeAvailabilityPause {
		t.Errorf("pause: %+v", n.Spec)
	}
	spec.Availability = swarm.NodeAvailabilityActive
	_ = ApplyNodeSpec(n, spec)
	if n.Spec.Unschedulable || NodeAvailability(n) != swarm.NodeAvailabilityActive {
		t.Errorf("active: %+v", n.Spec)
	}
	// The role is the manager label.
	spec.Role = swarm.NodeRoleWorker
	if err := ApplyNodeSpec(n, spec); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Labels[labelControlPlane]; ok || NodeFromKube(n, "berth-1").Spec.Role != swarm.NodeRoleWorker {
		t.Errorf("demoted node's labels %v", n.Labels)
	}
	spec.Role = swarm.NodeRoleManager
	_ = ApplyNodeSpec(n, spec)
	if sn := NodeFromKube(n, "berth-0"); sn.Spec.Role != swarm.NodeRoleManager || sn.ManagerStatus == nil || sn.ManagerStatus.Leader ||
		sn.ManagerStatus.Reachability != swarm.ReachabilityReachable {
		t.Errorf("promoted node, not the leader: %+v", sn.ManagerStatus)
	}
	n.Status.Conditions[0].Status = corev1.ConditionUnknown
	if sn := NodeFromKube(n, "berth-0"); sn.ManagerStatus.Reachability != swarm.ReachabilityUnreachable {
		t.Errorf("a manager that is not Ready: %+v", sn.ManagerStatus)
	}
	for _, bad := range []swarm.NodeSpec{
		{Role: "boss"},
		{Role: swarm.NodeRoleManager, Availability: "sleep"},
		{Role: swarm.NodeRoleManager, Annotations: swarm.Annotations{Labels: map[string]string{"kubernetes.io/hostname": "x"}}},
	} {
		if err := ApplyNodeSpec(n, bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ApplyNodeSpec(%+v) = %v", bad, err)
		}
	}
}

// TestDocsListWarnings keeps docs/swarm.md honest: every warning the
// translation can give names a key the document lists as unsupported.
func TestDocsListWarnings(t *testing.T) {
	doc, err := os.ReadFile("../../docs/swarm.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"restart_policy.condition", "restart_policy.delay", "restart_policy.max_attempts", "restart_policy.window",
		"update_config.max_failure_ratio", "update_config.failure_action", "ulimits", "init", "oom_score_adj", "max_replicas_per_node", "log_driver", "pids", "generic_resources", "credential_spec", "isolation", "engine.labels", "volume-label", "bind-propagation"} {
		if !strings.Contains(string(doc), "`"+key) {
			t.Errorf("docs/swarm.md does not mention %s", key)
		}
	}
}
