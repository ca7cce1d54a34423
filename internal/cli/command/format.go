package command

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
)

// TemplateFuncs are the functions docker's --format templates offer.
func TemplateFuncs() template.FuncMap {
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
		"truncate": TruncateRunes,
		"println":  fmt.Sprintln,
	}
}

// TruncateRunes cuts s to n runes (the template function truncate).
func TruncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// ParseTemplate compiles a user --format with docker's functions.
func ParseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(TemplateFuncs()).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// ExecTemplate renders v with format and a trailing newline, like inspect -f.
func ExecTemplate(w io.Writer, format string, v any) error {
	t, err := ParseTemplate(format)
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

// MarshalRow is the JSON form of a formatter row: its field map, encoded
// with json.Marshal's default HTML escaping as docker's output has it.
func MarshalRow(fields map[string]any) ([]byte, error) { return json.Marshal(fields) }

// Table renders rows with a docker-style format: "table ..." gives an
// aligned table with a header (the template run over Headers, field name
// to column title), "json" one JSON object per row, anything else a
// template per row.
type Table struct {
	Format  string
	Headers map[string]string
}

// FieldRow is a row that answers its plain fields ({{.ID}}) itself. When
// every row is one and a format is only text and such fields (the default
// tables, -q, most --format strings), Table writes the values directly:
// text/template's reflection per field and row was a quarter of the CLI's
// CPU time for `ps` over 1000 containers. The output is the template's:
// it would print the same strings. ok false (a field the row does not
// know) sends the whole render through text/template, errors included.
type FieldRow interface {
	Field(name string) (value string, ok bool)
}

// Render writes rows in t's format.
func (t Table) Render(w io.Writer, rows []any) error {
	format := t.Format
	if format == "json" {
		format = "{{json .}}"
	}
	isTable := strings.HasPrefix(format, "table")
	if isTable {
		format = strings.TrimLeft(format[len("table"):], " ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := ParseTemplate(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if !renderFields(&buf, tmpl, rows) {
		buf.Reset()
		for _, r := range rows {
			if err := tmpl.Execute(&buf, r); err != nil {
				return fmt.Errorf("template: %w", err)
			}
			buf.WriteByte('\n')
		}
	}
	if !isTable {
		_, err := w.Write(buf.Bytes())
		return err
	}
	// tabwriter writes each cell and each run of padding separately:
	// straight to a pipe that is a write(2) per cell.
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tabwriter.NewWriter(bw, 10, 1, 3, ' ', 0)
	var hb bytes.Buffer
	if err := tmpl.Execute(&hb, t.Headers); err == nil && strings.TrimSpace(hb.String()) != "" {
		hb.WriteByte('\n')
		_, _ = tw.Write(hb.Bytes())
	}
	_, _ = tw.Write(buf.Bytes())
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// renderFields writes rows through tmpl without text/template when tmpl
// is only text and {{.Field}} actions and every row is a FieldRow knowing
// every field; it reports whether it did (buf is then complete).
func renderFields(buf *bytes.Buffer, tmpl *template.Template, rows []any) bool {
	if tmpl.Tree == nil || tmpl.Tree.Root == nil {
		return false
	}
	type segment struct {
		text  []byte
		field string // "" for text
	}
	var segs []segment
	for _, n := range tmpl.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			segs = append(segs, segment{text: n.Text})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return false
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return false
			}
			segs = append(segs, segment{field: f.Ident[0]})
		default:
			return false
		}
	}
	for _, r := range rows {
		fr, ok := r.(FieldRow)
		if !ok {
			return false
		}
		for _, s := range segs {
			if s.field == "" {
				buf.Write(s.text)
				continue
			}
			v, ok := fr.Field(s.field)
			if !ok {
				return false
			}
			buf.WriteString(v)
		}
		buf.WriteByte('\n')
	}
	return true
}

// HumanDuration is go-units' HumanDuration (docker's "3 seconds", "About a minute").
func HumanDuration(d time.Duration) string { return units.HumanDuration(d) }

// TruncID shortens an ID (with or without "sha256:") to 12 characters.
func TruncID(id string) string {
	if i := strings.IndexRune(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// Ellipsis cuts s to max runes, the last being "…", as docker does.
func Ellipsis(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// WriteJSONArray prints objects as docker's inspect commands do: a
// 4-space indented array, the daemon's key order kept, no HTML escaping.
func WriteJSONArray(w io.Writer, raws []json.RawMessage) error {
	if len(raws) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	var b bytes.Buffer
	b.WriteString("[\n    ")
	for i, raw := range raws {
		if i > 0 {
			b.WriteString(",\n    ")
		}
		if err := json.Indent(&b, raw, "    ", "    "); err != nil {
			return fmt.Errorf("indent inspect output: %w", err)
		}
	}
	b.WriteString("\n]\n")
	_, err := w.Write(b.Bytes())
	return err
}

// ExecInspectTemplate runs the template against the wire struct, and
// falls back to the raw JSON as a map (numbers kept exact) when a field
// is not in the struct, as docker does.
func ExecInspectTemplate(w io.Writer, format string, typed any, raw json.RawMessage) error {
	t, err := ParseTemplate(format)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if typed != nil && t.Execute(&b, typed) == nil {
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return err
	}
	b.Reset()
	if err := t.Execute(&b, m); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}

// NaturalLess orders strings with their digit runs compared as numbers
// ("web.2" before "web.10"), as docker sorts names.
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// PrettyPrint is docker's display of states and times: the first byte
// upper case and the rest lower ("running" → "Running", "UTC" → "utc"),
// a single character lower case.
func PrettyPrint(s string) string {
	switch len(s) {
	case 0:
		return s
	case 1:
		return strings.ToLower(s)
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// HumanSize is docker's size display: three significant digits, SI units.
func HumanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }
