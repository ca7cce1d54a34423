package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/moby/moby/client"
)

// GET /distribution/{name}/json: what the registry has for a name, without
// pulling, through the moby Go client and docker-py.
func TestDistributionInspect(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := startBerthRegistry(t)
	pushImage(t, host)
	ref := host + "/demo/bb:v1"
	want, err := crane.Digest(ref, crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cli, err := client.New(client.WithHost("unix://" + env.daemon.Sock))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res, err := cli.DistributionInspect(ctx, ref, client.DistributionInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest.String() != want || res.Descriptor.Size == 0 || !strings.Contains(res.Descriptor.MediaType, "manifest") {
		t.Errorf("descriptor %+v, want digest %s", res.Descriptor, want)
	}
	if len(res.Platforms) != 1 || res.Platforms[0].OS != "linux" || res.Platforms[0].Architecture != "amd64" {
		t.Errorf("platforms %+v", res.Platforms)
	}
	if _, err := cli.DistributionInspect(ctx, host+"/demo/bb:nope", client.DistributionInspectOptions{}); err == nil {
		t.Errorf("a missing tag was found")
	}
	// Nothing was pulled.
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	if r := dr.Run(ctx, nil, "image", "inspect", ref); r.Code == 0 {
		t.Errorf("distribution inspect pulled the image")
	}

	py := exec.Command(python3(), "-c", `
import os, docker
c = docker.APIClient(base_url='unix://' + os.environ['SOCK'], version='1.41')
d = c.inspect_distribution(os.environ['REF'])
print(d['Descriptor']['digest'], d['Platforms'][0]['architecture'])
`)
	py.Env = append(os.Environ(), "SOCK="+env.daemon.Sock, "REF="+ref)
	var so, se bytes.Buffer
	py.Stdout, py.Stderr = &so, &se
	if err := py.Run(); err != nil {
		t.Fatalf("docker-py: %v\n%s", err, se.String())
	}
	if got := strings.TrimSpace(so.String()); got != want+" amd64" {
		t.Errorf("docker-py inspect_distribution: %q, want %q", got, want+" amd64")
	}
}
