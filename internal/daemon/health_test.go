package daemon

import (
	"strings"
	"sync"
	"testing"
)

// A probe's stdout and stderr are copied into one limitedBuffer by two
// goroutines at once (go test -race caught it in a race-built berthd):
// nothing is lost below the limit, nothing kept above it.
func TestLimitedBufferConcurrentWrites(t *testing.T) {
	b := &limitedBuffer{n: 4096}
	var wg sync.WaitGroup
	for _, s := range []string{"o", "e"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b.Write([]byte(s))
			}
		}()
	}
	wg.Wait()
	if got := b.String(); len(got) != 2000 || strings.Count(got, "o") != 1000 {
		t.Fatalf("kept %d bytes (%d from stdout), want 2000 (1000)", len(got), strings.Count(got, "o"))
	}
	b.Write([]byte(strings.Repeat("x", 5000)))
	if got := b.String(); len(got) != 4096 {
		t.Fatalf("kept %d bytes over a 4096 limit", len(got))
	}
}
