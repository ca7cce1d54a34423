package layer

import (
	"bufio"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/moby/go-archive/compression"
)

// Decompress is compression.DecompressStream with a faster gzip reader
// (klauspost's, about twice the standard library's inflate speed), as a
// pull and a load unpack mostly gzip layers. Other formats go the
// standard way.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(10)
	if compression.Detect(head) != compression.Gzip {
		return compression.DecompressStream(br)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	return zr, nil
}
