package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
)

// templateFuncs are the functions docker's --format templates offer.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimSpace(b.String()), nil
		},
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    strings.Title, //nolint:staticcheck // docker's own title has this behaviour
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
		"truncate": truncateRunes,
		"println":  fmt.Sprintln,
	}
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// parseTemplate compiles a user --format with docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs()).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// execTemplate renders v with format and a trailing newline, like inspect -f.
func execTemplate(w io.Writer, format string, v any) error {
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}

// marshalRow is the JSON form of a formatter row: its field map, encoded
// with json.Marshal's default HTML escaping as docker's output has it.
func marshalRow(fields map[string]any) ([]byte, error) { return json.Marshal(fields) }

// table renders rows with a docker-style format: "table ..." gives an aligned
// table with a header, "json" one JSON object per row, anything else a
// template per row.
type table struct {
	format  string
	headers map[string]string
}

func (t table) render(w io.Writer, rows []any) error {
	format := t.format
	if format == "json" {
		format = "{{json .}}"
	}
	isTable := strings.HasPrefix(format, "table")
	if isTable {
		format = strings.TrimLeft(format[len("table"):], " ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !isTable {
		_, err := w.Write(buf.Bytes())
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	var hb bytes.Buffer
	// Header: the same template run against field name -> column title.
	if err := tmpl.Execute(&hb, t.headers); err == nil && strings.TrimSpace(hb.String()) != "" {
		hb.WriteByte('\n')
		_, _ = tw.Write(hb.Bytes())
	}
	_, _ = tw.Write(buf.Bytes())
	return tw.Flush()
}

// humanDuration is go-units' HumanDuration (docker's "3 seconds", "About a minute").
func humanDuration(d time.Duration) string { return units.HumanDuration(d) }

// humanSize is docker's size display: three significant digits, SI units.
func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// truncID shortens an ID (with or without "sha256:") to 12 hex characters.
func truncID(id string) string {
	if i := strings.IndexRune(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis cuts s to max runes, the last being "…", as docker does for commands.
func ellipsis(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// since renders a unix time as docker's "5 seconds ago".
func since(now time.Time, unix int64) string {
	return humanDuration(now.Sub(time.Unix(unix, 0))) + " ago"
}
