package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// kubeObject is what the swarm tests read of `kubectl get -o json` items.
type kubeObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp string            `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int   `json:"replicas"`
		NodeName string `json:"nodeName"`
		Ports    []struct {
			Port       int `json:"port"`
			TargetPort int `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
	Status struct {
		Phase         string `json:"phase"`
		ReadyReplicas int    `json:"readyReplicas"`
	} `json:"status"`
}

// kubeGet runs kubectl (a driver whose args end where kubectl's begin:
// `berth kubectl`, or the cluster's kubectl with a kubeconfig) and reads
// the items of `get WHAT -n NS -o json`.
func kubeGet(t *testing.T, kubectl testutil.Driver, ns, what string) []kubeObject {
	t.Helper()
	r := kubectl.Run(context.Background(), nil, "get", what, "-n", ns, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("kubectl get %s -n %s: %s", what, ns, r)
	}
	var l struct {
		Items []kubeObject `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
		t.Fatalf("kubectl get %s: %v\n%s", what, err, r.Stdout)
	}
	return l.Items
}

// checkServiceObjects: the Deployment, Service and running pods of swarm
// service STACK_NAME (or NAME outside a stack, in namespace "default") are
// in Kubernetes with the stack's names and labels, and the Service has
// the published port. A rollout may still be retiring old pods, so it
// asks again for up to a minute. It returns the running pods.
func checkServiceObjects(t *testing.T, kubectl testutil.Driver, stack, name string, replicas, port int) []kubeObject {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pods, problems := serviceObjects(t, kubectl, stack, name, replicas, port)
		if len(problems) == 0 {
			return pods
		}
		if time.Now().After(deadline) {
			t.Errorf("kubectl get deploy,pods,svc:\n%s", strings.Join(problems, "\n"))
			return pods
		}
		time.Sleep(time.Second)
	}
}

func serviceObjects(t *testing.T, kubectl testutil.Driver, stack, name string, replicas, port int) (pods []kubeObject, problems []string) {
	ns, service := "default", name
	if stack != "" {
		ns, service = stack, stack+"_"+name
	}
	var deploys, svcs []kubeObject
	for _, o := range kubeGet(t, kubectl, ns, "deploy,pods,svc") {
		if o.Metadata.Labels["com.docker.swarm.service.name"] != service {
			continue
		}
		if stack != "" && o.Metadata.Labels["com.docker.stack.namespace"] != stack {
			problems = append(problems, fmt.Sprintf("%s %s has no label com.docker.stack.namespace=%s: %v", o.Kind, o.Metadata.Name, stack, o.Metadata.Labels))
		}
		switch o.Kind {
		case "Deployment":
			deploys = append(deploys, o)
		case "Service":
			svcs = append(svcs, o)
		case "Pod":
			if o.Status.Phase == "Running" && o.Metadata.DeletionTimestamp == "" {
				pods = append(pods, o)
			}
		}
	}
	if len(deploys) != 1 || deploys[0].Metadata.Name != name || deploys[0].Spec.Replicas == nil || *deploys[0].Spec.Replicas != replicas {
		problems = append(problems, fmt.Sprintf("-n %s: want one Deployment %s of %d replicas labelled %s, got %+v", ns, name, replicas, service, deploys))
	}
	if len(svcs) != 1 || svcs[0].Metadata.Name != name {
		problems = append(problems, fmt.Sprintf("-n %s: want one Service %s labelled %s, got %+v", ns, name, service, svcs))
	} else if port != 0 && (len(svcs[0].Spec.Ports) != 1 || svcs[0].Spec.Ports[0].Port != port) {
		problems = append(problems, fmt.Sprintf("Service %s ports %+v, want %d", name, svcs[0].Spec.Ports, port))
	}
	if len(pods) != replicas {
		problems = append(problems, fmt.Sprintf("-n %s: %d running pods of %s, want %d", ns, len(pods), service, replicas))
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Metadata.Name, name+"-") {
			problems = append(problems, fmt.Sprintf("pod %s is not named after its Deployment %s", p.Metadata.Name, name))
		}
	}
	return pods, problems
}
