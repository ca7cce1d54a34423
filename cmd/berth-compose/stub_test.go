package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/cli/command"
)

// TestStandInsMatch: bin/berth lists compose and stack deploy through
// stand-ins that run berth-compose; its help must read as the plugin's.
func TestStandInsMatch(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"stack", "--help"}} {
		var stub, real, errb bytes.Buffer
		if code := cli.Main(context.Background(), args, command.Streams{Out: &stub, Err: &errb}); code != 0 {
			t.Fatalf("berth %v: exit %d: %s", args, code, errb.String())
		}
		if code := run(context.Background(), args, command.Streams{Out: &real, Err: &errb}); code != 0 {
			t.Fatalf("berth-compose %v: exit %d: %s", args, code, errb.String())
		}
		if stub.String() != real.String() {
			t.Errorf("berth %v differs from berth-compose's:\n%s\n---\n%s", args, stub.String(), real.String())
		}
	}
}
