package builder

import (
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// FuzzDockerfile parses arbitrary Dockerfiles and evaluates what the
// builder evaluates before it runs anything: the ARGs before FROM, each
// stage's base name, the stages and images each command reads, and each
// command's text for the cache key. Nothing may panic, and an error must be
// a client error (the API answers 400).
func FuzzDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM busybox\nRUN echo hi\n",
		"ARG V=1\nFROM busybox:${V} AS a\nCOPY --from=a /x /y\nFROM a\nRUN --mount=type=cache,target=/c true\n",
		"# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nCOPY <<EOF /x\nhello\nEOF\n",
		"FROM busybox\nRUN <<EOT bash\nset -e\nEOT\nONBUILD RUN x\nHEALTHCHECK --interval=1s CMD true\n",
		"ARG A=${B:-${C:+x}}\nFROM ${A}\nSHELL [\"/bin/ash\",\"-c\"]\nENV X=$A Y=\"${X}\"\n",
		"FROM busybox\nADD --chown=1:1 --checksum=sha256:00 http://127.0.0.1/x /y\nEXPOSE 80/tcp 53/udp\n",
		"FROM 0\nFROM 1\nCOPY --from=7 / /\n",
	} {
		f.Add([]byte(s), "V", "2")
	}
	f.Fuzz(func(t *testing.T, data []byte, argKey, argVal string) {
		df, err := parseDockerfile("Dockerfile", data)
		if err != nil {
			if !errdefs.IsInvalid(err) {
				t.Fatalf("parse error is not a client error: %v", err)
			}
			return
		}
		r := &buildRun{df: df, usedArgs: map[string]bool{}}
		r.opts.BuildArgs = map[string]*string{argKey: &argVal}
		if err := r.evalMetaArgs(); err != nil {
			if !errdefs.IsInvalid(err) {
				t.Fatalf("meta args error is not a client error: %v", err)
			}
			return
		}
		for i, st := range df.stages {
			_, _ = r.expandMeta(st.BaseName)
			_, _ = r.stageByName(st.BaseName, i)
			for _, c := range st.Commands {
				_ = commandText(c)
				for _, from := range commandFroms(c) {
					_, _ = r.stageByName(from, i)
				}
				switch c := c.(type) {
				case *instructions.CopyCommand:
					_ = copyFromCommand(c)
				case *instructions.AddCommand:
					_ = copyFromAdd(c)
				case *instructions.RunCommand:
					_ = mountKeys(instructions.GetMounts(c))
				}
			}
		}
		_ = r.unusedArgs()
	})
}
