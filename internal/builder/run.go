package builder

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sync/errgroup"
)

// builtinArgs may be passed with --build-arg without an ARG line; the
// proxy ones are kept out of history and the cache key, as in Docker.
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name     string
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	escape   rune
}

func parseDockerfile(name string, data []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, errdefs.Invalidf("failed to parse %s: %v", name, err)
	}
	stages, meta, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, errdefs.Invalidf("failed to parse %s: %v", name, err)
	}
	if len(stages) == 0 {
		return nil, errdefs.Invalidf("failed to parse %s: the Dockerfile cannot be empty or only hold ARG instructions", name)
	}
	return &dockerfile{name: name, stages: stages, metaArgs: meta, escape: res.EscapeToken}, nil
}

// buildRun is the state of one Build call.
type buildRun struct {
	b      *Builder
	opts   engine.BuildOptions
	ctxDir string
	sums   map[string]fileSum // digests of context files, taken while unpacking
	// deferred holds the content of large context files left sparse;
	// whatever reads context files calls deferred.materialize first.
	deferred *deferredContent
	df       *dockerfile

	meta      map[string]string // global ARGs (before the first FROM)
	cacheFrom []*image.Image    // --cache-from images found here
	mu        sync.Mutex
	usedArgs  map[string]bool
	stages    []*stageRun
}

// stageRun is one stage being built.
type stageRun struct {
	r       *buildRun
	index   int
	st      *instructions.Stage
	base    string // FROM after expansion
	deps    []int  // stages this one reads
	step    int    // number of the stage's first step
	labels  bool   // the target stage gets the --label step
	done    chan struct{}
	img     *image.Image
	err     error
	out     *jsonstream.Writer
	outSink *orderedSink
}

func (r *buildRun) markUsed(k string) {
	r.mu.Lock()
	r.usedArgs[k] = true
	r.mu.Unlock()
}

// execute builds the stages the target needs and returns the target's
// image. Stages run in parallel once their dependencies are done; their
// output is released in Dockerfile order so the stream reads like a
// sequential build.
func (r *buildRun) execute(ctx context.Context, w *jsonstream.Writer) (*image.Image, error) {
	r.resolveCacheFrom(ctx)
	if err := r.evalMetaArgs(); err != nil {
		return nil, err
	}
	target := len(r.df.stages) - 1
	if r.opts.Target != "" {
		i, ok := instructions.HasStage(r.df.stages, r.opts.Target)
		if !ok {
			return nil, errdefs.Invalidf("failed to reach build target %s in Dockerfile", r.opts.Target)
		}
		target = i
	}
	for i := range r.df.stages {
		st := &r.df.stages[i]
		base, err := r.expandMeta(st.BaseName)
		if err != nil {
			return nil, errdefs.Invalidf("failed to process %q: %v", st.BaseName, err)
		}
		s := &stageRun{r: r, index: i, st: st, base: base, done: make(chan struct{})}
		if j, ok := r.stageByName(base, i); ok {
			s.deps = append(s.deps, j)
		}
		for _, c := range st.Commands {
			for _, from := range commandFroms(c) {
				if j, ok := r.stageByName(from, i); ok {
					s.deps = append(s.deps, j)
				}
			}
		}
		r.stages = append(r.stages, s)
	}
	needed := r.needed(target)
	r.stages[target].labels = len(r.opts.Labels) > 0
	total := 0
	for _, i := range needed {
		s := r.stages[i]
		s.step = total + 1
		total += 1 + len(s.st.Commands)
		if s.labels {
			total++
		}
	}
	sinks := newOrderedSinks(w, len(needed))
	g, gctx := errgroup.WithContext(ctx)
	for k, i := range needed {
		s := r.stages[i]
		s.outSink = sinks[k]
		s.out = jsonstream.NewWriter(s.outSink)
		g.Go(func() error {
			defer s.outSink.finish()
			defer close(s.done)
			for _, d := range s.deps {
				select {
				case <-r.stages[d].done:
					if r.stages[d].err != nil {
						return errSkip
					}
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			s.img, s.err = s.build(gctx, total)
			return s.err
		})
	}
	err := g.Wait()
	// The first failing stage in Dockerfile order is the one to report.
	for _, i := range needed {
		if e := r.stages[i].err; e != nil {
			return nil, e
		}
	}
	if err != nil {
		return nil, err
	}
	return r.stages[target].img, nil
}

// needed lists the stages the target depends on, in Dockerfile order.
func (r *buildRun) needed(target int) []int {
	seen := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, d := range r.stages[i].deps {
			visit(d)
		}
	}
	visit(target)
	var out []int
	for i := range r.stages {
		if seen[i] {
			out = append(out, i)
		}
	}
	return out
}

// stageByName finds an earlier stage by name or index, as FROM and --from
// refer to them.
func (r *buildRun) stageByName(name string, before int) (int, bool) {
	if name == "" {
		return 0, false
	}
	for i := 0; i < before && i < len(r.df.stages); i++ {
		if strings.EqualFold(r.df.stages[i].Name, name) {
			return i, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < before {
		return n, true
	}
	return 0, false
}

// commandFroms lists what a command reads from other stages or images.
func commandFroms(c instructions.Command) []string {
	switch c := c.(type) {
	case *instructions.CopyCommand:
		if c.From != "" {
			return []string{c.From}
		}
	case *instructions.RunCommand:
		var out []string
		for _, m := range instructions.GetMounts(c) {
			if m.From != "" {
				out = append(out, m.From)
			}
		}
		return out
	}
	return nil
}

// evalMetaArgs evaluates the ARGs before the first FROM.
func (r *buildRun) evalMetaArgs() error {
	r.meta = map[string]string{
		"TARGETPLATFORM": "linux/" + runtime.GOARCH, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH,
		"BUILDPLATFORM": "linux/" + runtime.GOARCH, "BUILDOS": "linux", "BUILDARCH": runtime.GOARCH,
	}
	for _, a := range r.df.metaArgs {
		for _, kv := range a.Args {
			if v, ok := r.opts.BuildArgs[kv.Key]; ok && v != nil {
				r.meta[kv.Key] = *v
				r.markUsed(kv.Key)
				continue
			}
			if kv.Value != nil {
				v, err := r.expandMeta(*kv.Value)
				if err != nil {
					return errdefs.Invalidf("failed to process %q: %v", *kv.Value, err)
				}
				r.meta[kv.Key] = v
			} else if _, ok := r.meta[kv.Key]; !ok {
				r.meta[kv.Key] = ""
			}
		}
	}
	return nil
}

func (r *buildRun) expandMeta(word string) (string, error) {
	env := make([]string, 0, len(r.meta))
	for k, v := range r.meta {
		env = append(env, k+"="+v)
	}
	return r.processWord(word, shell.EnvsFromSlice(env))
}

// processWord expands variables in word. Each call takes a lexer of its
// own: shell.Lex keeps the word being scanned in itself, and parallel
// stages expanding at once through one lexer read each other's words (a
// RUN --mount's target came back empty).
func (r *buildRun) processWord(word string, env shell.EnvGetter) (string, error) {
	out, _, err := shell.NewLex(r.df.escape).ProcessWord(word, env)
	return out, err
}

// sortedEnv renders a map as sorted KEY=value lines.
func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// orderedSink passes a stage's output through while all earlier stages
// are finished, and buffers it until then.
type orderedSink struct {
	shared *orderedShared
	index  int
	buf    bytes.Buffer
	closed bool
}

type orderedShared struct {
	mu    sync.Mutex
	w     *jsonstream.Writer
	head  int
	sinks []*orderedSink
}

func newOrderedSinks(w *jsonstream.Writer, n int) []*orderedSink {
	sh := &orderedShared{w: w}
	for i := range n {
		sh.sinks = append(sh.sinks, &orderedSink{shared: sh, index: i})
	}
	return sh.sinks
}

func (o *orderedSink) Write(p []byte) (int, error) {
	sh := o.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.head == o.index {
		return sh.w.Write(p)
	}
	return o.buf.Write(p)
}

func (o *orderedSink) finish() {
	sh := o.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	o.closed = true
	for sh.head < len(sh.sinks) && sh.sinks[sh.head].closed {
		sh.head++
		if sh.head < len(sh.sinks) {
			next := sh.sinks[sh.head]
			sh.w.Write(next.buf.Bytes())
			next.buf.Reset()
		}
	}
}

// stepLine is the "Step N/M : INSTRUCTION" header.
func (s *stageRun) stepLine(n, total int, text string) {
	s.out.Stream(fmt.Sprintf("Step %d/%d : %s", n, total, text))
	s.out.Stream("\n")
}

func (s *stageRun) say(format string, a ...any) {
	s.out.Stream(fmt.Sprintf(format, a...))
}
