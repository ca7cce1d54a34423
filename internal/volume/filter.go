package volume

import (
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
)

// ListFilter builds GET /volumes' predicate: dangling, name (substring),
// driver, label and label!.
func ListFilter(f filters.Args) (Filter, error) {
	if err := f.Validate("dangling", "name", "driver", "label", "label!"); err != nil {
		return nil, err
	}
	dangling, err := danglingFilter(f)
	if err != nil {
		return nil, err
	}
	return func(v *Volume, refs int) bool {
		if dangling != nil && *dangling != (refs == 0) {
			return false
		}
		if names := f.Get("name"); len(names) > 0 && !containsAny(v.Name, names) {
			return false
		}
		if !f.ExactMatch("driver", v.Driver) {
			return false
		}
		return matchLabels(f, v.Labels)
	}, nil
}

func danglingFilter(f filters.Args) (*bool, error) {
	if !f.Contains("dangling") {
		return nil, nil
	}
	vs := f.Get("dangling")
	if len(vs) != 1 {
		return nil, errdefs.Invalidf("invalid filter 'dangling'")
	}
	var b bool
	switch strings.ToLower(vs[0]) {
	case "true", "1":
		b = true
	case "false", "0":
	default:
		return nil, errdefs.Invalidf("invalid filter 'dangling=%s'", vs[0])
	}
	return &b, nil
}

// PruneFilter builds POST /volumes/prune's predicate: label, label! and
// all. Without all=true only anonymous volumes are pruned (API >= 1.42; the
// API layer adds all=true for older clients, as dockerd does).
func PruneFilter(f filters.Args) (Filter, error) {
	if err := f.Validate("label", "label!", "all"); err != nil {
		return nil, err
	}
	all, err := f.GetBoolOrDefault("all", false)
	if err != nil {
		return nil, err
	}
	return func(v *Volume, _ int) bool {
		if !all && !v.Anonymous() {
			return false
		}
		return matchLabels(f, v.Labels)
	}, nil
}

func matchLabels(f filters.Args, labels map[string]string) bool {
	if !f.MatchKVList("label", labels) {
		return false
	}
	for _, neg := range f.Get("label!") {
		k, want, hasValue := strings.Cut(neg, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == want) {
			return false
		}
	}
	return true
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
