package logs

import (
	"fmt"
	"io"
	"os"
)

// tailStart finds where the last n lines of f begin. It scans backwards
// in blocks so a large file costs only what the tail covers. lines is how
// many lines the returned offset includes (fewer than n when f is short).
func tailStart(f *os.File, n int) (off int64, lines int, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("read log: %w", err)
	}
	size := st.Size()
	if n <= 0 {
		return size, 0, nil
	}
	if size == 0 {
		return 0, 0, nil
	}
	const block = 32 * 1024
	buf := make([]byte, block)
	// The byte at size-1 is the last line's own newline; a newline found
	// before it ends the previous line, so the line after it is counted.
	end := size - 1
	for end > 0 {
		start := max(end-block, 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, 0, fmt.Errorf("read log: %w", err)
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				lines++
				if lines == n {
					return start + int64(i) + 1, lines, nil
				}
			}
		}
		end = start
	}
	return 0, lines + 1, nil
}
