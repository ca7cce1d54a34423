package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// showProgress renders a pull/push/load progress stream: on a terminal
// with docker's own renderer (a line per layer, redrawn, with progress
// bars), otherwise as printStream does.
func showProgress(r io.Reader, w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return printStream(r, w)
	}
	// Its errors (*jsonstream.Error) print as the bare message, like
	// printStream's.
	return jsonmessage.DisplayJSONMessagesStream(r, f, f.Fd(), true, nil)
}

// printStream prints a daemon JSON message stream the way the docker CLI
// does off a terminal: "stream" text as it is, "ID: status" lines, and
// none of the byte-count updates of Downloading/Pushing. The stream's first
// error is returned.
func printStream(r io.Reader, w io.Writer) error {
	return jsonstream.Decode(r, func(m jsonstream.Message) error {
		switch {
		case m.Stream != "":
			fmt.Fprint(w, m.Stream)
		case m.Progress != nil && (m.Progress.Current > 0 || m.Progress.Total > 0):
		case m.ID != "" && m.Status != "":
			fmt.Fprintf(w, "%s: %s\n", m.ID, m.Status)
		case m.Status != "":
			fmt.Fprintln(w, m.Status)
		}
		return nil
	})
}
