package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// benchArchive is a docker-archive like the bench's (make bench) image:
// layers uncompressed layers of one random file of size bytes each.
func benchArchive(b *testing.B, layers int, size int64) []byte {
	b.Helper()
	var diffIDs []digest.Digest
	var tars [][]byte
	for i := 0; i < layers; i++ {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		body := make([]byte, size)
		rand.Read(body)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("random_file_%d.txt", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
		tw.Write(body)
		tw.Close()
		tars = append(tars, buf.Bytes())
		diffIDs = append(diffIDs, digest.FromBytes(buf.Bytes()))
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgName := "blobs/sha256/" + digest.FromBytes(cfg).Encoded()
	item := manifestItem{Config: cfgName, RepoTags: []string{"bench:v1"}}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	put := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	for i, t := range tars {
		name := "blobs/sha256/" + diffIDs[i].Encoded()
		put(name, t)
		item.Layers = append(item.Layers, name)
	}
	put(cfgName, cfg)
	man, _ := json.Marshal([]manifestItem{item})
	put("manifest.json", man)
	tw.Close()
	return out.Bytes()
}

// BenchmarkLoad loads a 4-layer 200 MB archive from memory (profile it
// with -cpuprofile; make bench measures the whole path).
func BenchmarkLoad(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	ctx := context.Background()
	arch := benchArchive(b, 4, 50<<20)
	b.SetBytes(int64(len(arch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := New(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Load(ctx, bytes.NewReader(arch), func(string) {}); err != nil {
			b.Fatal(err)
		}
	}
}
