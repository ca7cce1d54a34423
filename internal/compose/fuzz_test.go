package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConvert loads arbitrary compose files with compose-go and turns
// every service into the create request compose sends: no panic, whatever
// the YAML.
func FuzzLoadConvert(f *testing.F) {
	for _, s := range []string{
		"services:\n  web:\n    image: busybox\n    ports: [\"8000:80\"]\n    environment: [A=1]\n",
		"services:\n  a:\n    build: .\n    depends_on: [b]\n    volumes: [\"data:/d\", \"./x:/x:ro\"]\n  b:\n    image: redis\n    deploy: {resources: {limits: {cpus: '0.5', memory: 50M}}}\nvolumes: {data: {}}\n",
		"services:\n  x:\n    image: ${IMG:-busybox}\n    command: [\"sh\",\"-c\",\"echo $$HOME\"]\n    healthcheck: {test: [\"CMD\",\"true\"], interval: 1s}\n    restart: on-failure:3\n",
		"services:\n  x:\n    image: a\n    network_mode: \"service:y\"\n  y:\n    image: b\n    networks: {n: {aliases: [z]}}\nnetworks: {n: {}}\n",
		"services: {a: {image: a, depends_on: [a]}}\n",
		"x-anchors: &a {image: busybox}\nservices:\n  s: *a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, yaml []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, yaml, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, err := Load(ctx, LoadOptions{WorkDir: dir, Files: []string{file}, Name: "fuzz"})
		if err != nil {
			return
		}
		others := func(string) []string { return []string{"fuzz-other-1"} }
		for _, s := range p.Services {
			hash, err := ServiceHash(s)
			if err != nil {
				continue
			}
			_ = ContainerName(p, s, 1)
			_, _ = buildSpec(p, s, 1, false, hash, others)
		}
	})
}
