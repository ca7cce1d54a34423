package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// socketPath turns a runtime endpoint (unix:///path or /path) into a path.
func socketPath(endpoint string) string {
	return strings.TrimPrefix(endpoint, "unix://")
}

// dialCRI connects to the runtime's CRI socket.
func dialCRI(endpoint string) (*grpc.ClientConn, error) {
	path := socketPath(endpoint)
	return grpc.NewClient("passthrough:///cri",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}))
}

// checkRuntime asks the runtime for its version: `up` stops early with a
// clear message when nothing answers on the endpoint.
func checkRuntime(ctx context.Context, endpoint string) error {
	conn, err := dialCRI(endpoint)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

// removeSandboxes stops and removes every pod sandbox (and so every pod
// container) on the runtime, once the kubelet is gone: the runtime then
// tears down each pod's network through CNI and unmounts its containers.
// The endpoint belongs to this daemon, so all its pods are this cluster's.
func removeSandboxes(ctx context.Context, endpoint string) error {
	conn, err := dialCRI(endpoint)
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	list, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop pod sandbox %s: %w", sb.Id, err))
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove pod sandbox %s: %w", sb.Id, err))
		}
	}
	return errors.Join(errs...)
}

// runtimeCNIConfDir asks the runtime where it reads CNI configs (verbose
// Status info: berthd's "cniConfDir", containerd's "cniconfig" with its
// PluginConfDir), so `up` writes its network where the runtime looks. ""
// when the runtime does not say.
func runtimeCNIConfDir(ctx context.Context, endpoint string) string {
	conn, err := dialCRI(endpoint)
	if err != nil {
		return ""
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		return ""
	}
	if dir := resp.Info["cniConfDir"]; dir != "" {
		return dir
	}
	var cni struct{ PluginConfDir string }
	if json.Unmarshal([]byte(resp.Info["cniconfig"]), &cni) == nil {
		return cni.PluginConfDir
	}
	return ""
}
