package images

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/filters"
)

func TestMatchingRefs(t *testing.T) {
	refs := []string{"busybox:latest", "busybox:1", "me/app:v2", "reg:5000/me/app:v1", "me/app@sha256:abc"}
	for _, tc := range []struct{ pattern, want string }{
		{"busybox", "busybox:latest,busybox:1"},
		{"busybox:1", "busybox:1"},
		{"*/app", "me/app:v2,me/app@sha256:abc"},
		{"me/app:v*", "me/app:v2"},
		{"reg:5000/*/*", "reg:5000/me/app:v1"},
		{"nothing", ""},
	} {
		got := strings.Join(matchingRefs(map[string]bool{tc.pattern: true}, refs), ",")
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.pattern, got, tc.want)
		}
	}
	if got := matchingRefs(nil, refs); len(got) != len(refs) {
		t.Errorf("no pattern: %v", got)
	}
}

func TestLabelsMatch(t *testing.T) {
	labels := map[string]string{"a": "1", "b": "2"}
	for _, tc := range []struct {
		filters []string
		want    bool
	}{
		{nil, true},
		{[]string{"label=a"}, true},
		{[]string{"label=a=1", "label=b=2"}, true},
		{[]string{"label=a=2"}, false},
		{[]string{"label=c"}, false},
		{[]string{"label!=c"}, true},
		{[]string{"label!=a=1"}, false},
		{[]string{"label=a", "label!=b=3"}, true},
	} {
		f := filters.Args{}
		for _, kv := range tc.filters {
			k, v, _ := strings.Cut(kv, "=")
			f.Add(k, v)
		}
		if got := labelsMatch(f, labels); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.filters, got, tc.want)
		}
	}
}
