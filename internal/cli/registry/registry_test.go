package registry

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/moby/moby/api/types/registry"
)

func TestSearchRows(t *testing.T) {
	rows := []any{
		searchRow{r: registry.SearchResult{Name: "a", Description: strings.Repeat("x", 50), StarCount: 7}, trunc: true},
		searchRow{r: registry.SearchResult{Name: "b", Description: "two\nlines", IsOfficial: true}, trunc: true},
	}
	var buf bytes.Buffer
	if err := (command.Table{Format: searchDefaultFormat, Headers: searchHeaders}).Render(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := "NAME      DESCRIPTION                                     STARS     OFFICIAL\n" +
		"a         " + strings.Repeat("x", 44) + "…   7         \n" +
		"b         two lines                                       0         [OK]\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := (command.Table{Format: "json"}).Render(&buf, rows[1:]); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != `{"Description":"two lines","IsOfficial":"true","Name":"b","StarCount":"0"}` {
		t.Errorf("json: %s", got)
	}
}
