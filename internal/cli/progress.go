package cli

import (
	"io"
	"os"

	"github.com/moby/moby/client/pkg/jsonmessage"
)

// showProgress renders a pull/push/load progress stream: on a terminal
// with docker's own renderer (a line per layer, redrawn, with progress
// bars), otherwise with plain, line-per-message output.
func showProgress(r io.Reader, w io.Writer, plain func(io.Reader, io.Writer) error) error {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return plain(r, w)
	}
	// Its errors (*jsonstream.Error) print as the bare message, like the
	// plain path's.
	return jsonmessage.DisplayJSONMessagesStream(r, f, f.Fd(), true, nil)
}
