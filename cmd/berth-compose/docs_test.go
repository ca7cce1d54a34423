package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/cli/command"
)

// TestCLIReferenceUpToDate regenerates the markdown reference and wants it
// identical to docs/cli-reference (regenerate: make docs). The tree is
// berth-compose's: bin/berth's own with compose and stack deploy built in.
func TestCLIReferenceUpToDate(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"docs", dir}, command.Streams{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("docs: exit %d: %s", code, errb.String())
	}
	generated, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no pages generated: %v", err)
	}
	committed, _ := filepath.Glob("../../docs/cli-reference/*.md")
	if len(committed) != len(generated) {
		t.Errorf("docs/cli-reference has %d pages, generator makes %d", len(committed), len(generated))
	}
	for _, g := range generated {
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(filepath.Join("../../docs/cli-reference", filepath.Base(g)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing", filepath.Base(g))
		}
	}
}
