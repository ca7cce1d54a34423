package container

import (
	"reflect"
	"testing"

	"github.com/berth-project/berth/internal/cli/command"
)

// TestCatalogueNames: the root finds a shortcut by the names Catalogue
// declares, so they must be the built commands' own.
func TestCatalogueNames(t *testing.T) {
	e := &Env{Env: command.NewEnv(command.Streams{}, nil)}
	for _, n := range Catalogue() {
		c := n.New(e)
		if c.Name() != n.Name || !reflect.DeepEqual(c.Aliases, n.Aliases) {
			t.Errorf("catalogue says %s %v, the command is %s %v", n.Name, n.Aliases, c.Name(), c.Aliases)
		}
	}
}
