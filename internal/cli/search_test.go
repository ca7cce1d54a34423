package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
)

func TestSearchRows(t *testing.T) {
	rows := []any{
		searchRow{r: registry.SearchResult{Name: "a", Description: strings.Repeat("x", 50), StarCount: 7}, trunc: true},
		searchRow{r: registry.SearchResult{Name: "b", Description: "two\nlines", IsOfficial: true}, trunc: true},
	}
	var buf bytes.Buffer
	if err := (table{format: searchDefaultFormat, headers: searchHeaders}).render(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := "NAME      DESCRIPTION                                     STARS     OFFICIAL\n" +
		"a         " + strings.Repeat("x", 44) + "…   7         \n" +
		"b         two lines                                       0         [OK]\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := (table{format: "json"}).render(&buf, rows[1:]); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != `{"Description":"two lines","IsOfficial":"true","Name":"b","StarCount":"0"}` {
		t.Errorf("json: %s", got)
	}
}

func TestTagQuery(t *testing.T) {
	for _, tc := range []struct{ target, repo, tag, err string }{
		{"bb", "docker.io/library/bb", "latest", ""},
		{"bb:1", "docker.io/library/bb", "1", ""},
		{"docker.io/library/bb:1", "docker.io/library/bb", "1", ""},
		{"docker.io/me/bb", "docker.io/me/bb", "latest", ""},
		{"localhost:5000/x:y", "localhost:5000/x", "y", ""},
		{"UPPER", "", "", `Error parsing reference: "UPPER" is not a valid repository/tag: invalid reference format: repository name (library/UPPER) must be lowercase`},
		{"x@sha256:" + strings.Repeat("0", 64), "", "", "refusing to create a tag with a digest reference"},
	} {
		q, err := tagQuery("busybox", tc.target)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err %v, want %s", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || q.Get("repo") != tc.repo || q.Get("tag") != tc.tag {
			t.Errorf("%s: %v %v, want %s %s", tc.target, q, err, tc.repo, tc.tag)
		}
	}
}
