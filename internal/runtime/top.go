package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Top runs the host's ps with psArgs (default "-ef") and keeps the rows
// whose PID column is one of pids, the container's processes.
func Top(ctx context.Context, pids []int, psArgs string) (*container.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	args := strings.Fields(psArgs)
	// Restricting ps to the container's pids (-q) keeps the output small
	// on a busy host; some options (e.g. f) refuse -q, so retry without.
	out, err := runPs(ctx, append(args, "-q", joinPids(pids)))
	if err != nil {
		out, err = runPs(ctx, args)
		if err != nil {
			return nil, err
		}
	}
	return parsePs(out, pids)
}

func runPs(ctx context.Context, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ps", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, errdefs.Invalidf("Error running ps: %s", msg)
	}
	return out, nil
}

func joinPids(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// parsePs splits ps output into titles and rows. The last column (the
// command) may contain spaces, so everything past the titles joins it.
func parsePs(out []byte, pids []int) (*container.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	resp := &container.TopResponse{Titles: strings.Fields(lines[0]), Processes: [][]string{}}
	pidIndex := -1
	for i, t := range resp.Titles {
		if t == "PID" {
			pidIndex = i
		}
	}
	if pidIndex == -1 {
		return nil, errdefs.Invalidf("Couldn't find PID field in ps output")
	}
	want := make(map[int]bool, len(pids))
	for _, p := range pids {
		want[p] = true
	}
	n := len(resp.Titles)
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) < n || len(fields) <= pidIndex {
			continue
		}
		p, err := strconv.Atoi(fields[pidIndex])
		if err != nil {
			return nil, fmt.Errorf("Unexpected pid '%s': %w", fields[pidIndex], err)
		}
		if !want[p] {
			continue
		}
		row := append(fields[:n-1:n-1], strings.Join(fields[n-1:], " "))
		resp.Processes = append(resp.Processes, row)
	}
	return resp, nil
}
