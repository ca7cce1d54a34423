package cli

import (
	"io"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	units "github.com/docker/go-units"
)

// The formatting helpers live in command, shared with the group packages.
var (
	templateFuncs = command.TemplateFuncs
	parseTemplate = command.ParseTemplate
	execTemplate  = command.ExecTemplate
	marshalRow    = command.MarshalRow
	truncateRunes = command.TruncateRunes
)

// table renders rows with a docker-style format (command.Table).
type table struct {
	format  string
	headers map[string]string
}

func (t table) render(w io.Writer, rows []any) error {
	return command.Table{Format: t.format, Headers: t.headers}.Render(w, rows)
}

// humanDuration is go-units' HumanDuration (docker's "3 seconds", "About a minute").
func humanDuration(d time.Duration) string { return units.HumanDuration(d) }

// humanSize is docker's size display: three significant digits, SI units.
func humanSize(n int64) string { return command.HumanSize(n) }

// truncID shortens an ID (with or without "sha256:") to 12 hex characters.
func truncID(id string) string { return command.TruncID(id) }

// ellipsis cuts s to max runes, the last being "…", as docker does for commands.
func ellipsis(s string, max int) string { return command.Ellipsis(s, max) }

// since renders a unix time as docker's "5 seconds ago".
func since(now time.Time, unix int64) string { return command.Since(now, unix) }
