package cli

import (
	"context"
	"encoding/json"
	"fmt"
)

// postPrune posts a prune request and, as docker does, lists what went
// under heading ("Deleted Containers:"); listKey names the report's list
// (ContainersDeleted, VolumesDeleted, NetworksDeleted). It returns the
// reclaimed bytes (0 where the report has none).
func (a *app) postPrune(ctx context.Context, path string, filters []string, listKey, heading string) (int64, error) {
	c, err := a.client()
	if err != nil {
		return 0, err
	}
	var rep map[string]json.RawMessage
	if err := c.Post(ctx, path, filterQuery(filters), nil, &rep); err != nil {
		return 0, err
	}
	var names []string
	if raw, ok := rep[listKey]; ok {
		if err := json.Unmarshal(raw, &names); err != nil {
			return 0, fmt.Errorf("prune report: %w", err)
		}
	}
	var space int64
	if raw, ok := rep["SpaceReclaimed"]; ok {
		json.Unmarshal(raw, &space)
	}
	if len(names) > 0 {
		fmt.Fprintln(a.Out, heading)
		for _, n := range names {
			fmt.Fprintln(a.Out, n)
		}
		fmt.Fprintln(a.Out)
	}
	return space, nil
}
