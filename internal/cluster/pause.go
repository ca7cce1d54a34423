package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// PauseImage is the sandbox image of the cluster's pods: berth-pause (built
// with berthd, see cmd/berth-pause) in a one-layer image that `cluster up`
// loads into the daemon's image store, since nothing can be pulled here.
const PauseImage = "berth.local/pause:3.10"

// pauseArchive packs the pause binary as a docker-archive tar (what
// POST /images/load and `ctr images import` read).
func pauseArchive(pauseBin string) ([]byte, error) {
	bin, err := os.ReadFile(pauseBin)
	if err != nil {
		return nil, fmt.Errorf("pause program: %w (make build puts bin/berth-pause next to berthd)", err)
	}
	epoch := time.Unix(0, 0)
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	lw.Write(bin)
	if err := lw.Close(); err != nil {
		return nil, err
	}
	ls := sha256.Sum256(layer.Bytes())
	layerID := hex.EncodeToString(ls[:])
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config":       map[string]any{"Entrypoint": []string{"/pause"}, "WorkingDir": "/", "User": "65535:65535"},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerID}},
		"history":      []any{map[string]any{"created": epoch.UTC().Format(time.RFC3339), "created_by": "berth cluster up: berth-pause"}},
	})
	if err != nil {
		return nil, err
	}
	cs := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cs[:]) + ".json"
	manifest, err := json.Marshal([]any{map[string]any{
		"Config": cfgName, "RepoTags": []string{PauseImage}, "Layers": []string{layerID + "/layer.tar"}}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{layerID + "/layer.tar", layer.Bytes()}, {cfgName, cfg}, {"manifest.json", manifest}} {
		if err := add(f.name, f.b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
