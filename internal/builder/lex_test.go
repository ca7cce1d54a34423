package builder

import (
	"fmt"
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// TestProcessWordConcurrent expands words from many goroutines at once, as
// parallel stages do; with one shared shell.Lex the words mixed (a RUN
// --mount target came back empty in a CI run).
func TestProcessWordConcurrent(t *testing.T) {
	r := &buildRun{df: &dockerfile{escape: '\\'}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			env := shell.EnvsFromSlice([]string{fmt.Sprintf("V=value%d", g)})
			want := fmt.Sprintf("type=cache,target=/sync%d,id=value%d", g, g)
			for i := 0; i < 2000; i++ {
				got, err := r.processWord(fmt.Sprintf("type=cache,target=/sync%d,id=$V", g), env)
				if err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d: got %q (%v), want %q", g, got, err, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
