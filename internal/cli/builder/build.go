// Package builder is `berth build` and `berth builder`: docker CLI 28's
// classic builder client (context transfer, POST /build, the stream
// rendered as docker does) and the build cache's prune.
package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-project/berth/internal/buildcontext"
	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/dockerconfig"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/go-archive/compression"
	"github.com/spf13/cobra"
)

// buildOpts are the flags of `berth build`, docker CLI 28's legacy builder set.
type buildOpts struct {
	file, target, network, platform, iidfile        string
	cgroupParent, cpusetCPUs, cpusetMems, isolation string
	tags, buildArgs, labels, addHosts               listValue
	ulimits                                         ulimitValue
	cacheFrom, securityOpt                          []string
	memory, memorySwap, shmSize                     bytesValue
	cpuShares, cpuPeriod, cpuQuota                  int64
	quiet, noCache, pull, rm, forceRm               bool
	compress, squash                                bool
}

// NewCommand is `berth builder`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("builder", "Manage builds", newPruneCmd(e), NewBuildCommand(e))
}

// NewBuildCommand is `berth build` (also `image build`, `builder build`).
func NewBuildCommand(e *command.Env) *cobra.Command {
	o := &buildOpts{
		tags:       listValue{validate: validateTag},
		buildArgs:  listValue{validate: validateBuildArg},
		labels:     listValue{validate: validateLabel},
		addHosts:   listValue{validate: validateExtraHost},
		memorySwap: bytesValue{allowUnlimited: true},
	}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Build(cmd.Context(), c, o, args[0], e.Streams)
		}),
	}
	f := cmd.Flags()
	f.VarP(&o.tags, "tag", "t", `Name and optionally a tag in the "name:tag" format`)
	f.Var(&o.buildArgs, "build-arg", "Set build-time variables")
	f.Var(&o.ulimits, "ulimit", "Ulimit options")
	f.StringVarP(&o.file, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memorySwap, "memory-swap", `Swap limit equal to memory plus swap: -1 to enable unlimited swap`)
	f.Var(&o.shmSize, "shm-size", `Size of "/dev/shm"`)
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit the CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit the CPU CFS (Completely Fair Scheduler) quota")
	f.StringVar(&o.cpusetCPUs, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	f.StringVar(&o.isolation, "isolation", "", "Container isolation technology")
	f.Var(&o.labels, "label", "Set metadata for an image")
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.rm, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&o.forceRm, "force-rm", false, "Always remove intermediate containers")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.StringSliceVar(&o.cacheFrom, "cache-from", []string{}, "Images to consider as cache sources")
	f.BoolVar(&o.compress, "compress", false, "Compress the build context using gzip")
	f.StringSliceVar(&o.securityOpt, "security-opt", []string{}, "Security options")
	f.StringVar(&o.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	f.Var(&o.addHosts, "add-host", `Add a custom host-to-IP mapping ("host:ip")`)
	f.StringVar(&o.target, "target", "", "Set the target build stage to build.")
	f.StringVar(&o.iidfile, "iidfile", "", "Write the image ID to the file")
	f.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.BoolVar(&o.squash, "squash", false, "Squash newly built layers into a single new layer")
	// Accepted for scripts written for docker; berth has no content trust.
	f.Bool("disable-content-trust", true, "Skip image verification")
	return cmd
}

// buildOutputs says where a build's output goes: the context transfer
// lines (prog) and the daemon's stream. With -q both are kept in buffers
// and shown on stderr only if the build fails.
type buildOutputs struct {
	tty               bool
	prog, stream      io.Writer
	progBuf, buildBuf *syncBuffer // -q only
}

func newBuildOutputs(quiet bool, out io.Writer) *buildOutputs {
	if quiet {
		b := &buildOutputs{progBuf: &syncBuffer{}, buildBuf: &syncBuffer{}}
		b.prog, b.stream = b.progBuf, b.buildBuf
		return b
	}
	lw := &lockedWriter{w: out}
	return &buildOutputs{tty: command.IsTerminal(out), prog: lw, stream: lw}
}

// showQuiet prints what -q held back (docker does so on failure).
func (b *buildOutputs) showQuiet(w io.Writer) {
	if b.progBuf != nil {
		fmt.Fprint(w, b.progBuf.String()+b.buildBuf.String())
	}
}

// Build runs one build of spec (PATH, URL or -): prepare the context
// client side, POST /build, and render the stream on s.Out (s.Err for
// failures and -q's held-back output).
func Build(ctx context.Context, c *client.Client, o *buildOpts, spec string, s command.Streams) error {
	if o.iidfile != "" {
		// A failed build must not leave the previous build's ID behind.
		if err := os.Remove(o.iidfile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing image ID file: %w", err)
		}
	}
	outs := newBuildOutputs(o.quiet, s.Out)
	bctx, err := buildcontext.New(ctx, spec, buildcontext.Options{
		Dockerfile: o.file,
		Stdin:      s.In,
		Download:   progressLine(outs.prog, "Downloading build context from remote url: "+spec, outs.tty),
	})
	if err != nil {
		outs.showQuiet(s.Err)
		return err
	}
	defer bctx.Close()

	var body io.Reader = bctx.Tar
	if o.compress {
		body = gzipStream(bctx.Tar)
	}
	body = &countingReader{r: body, fn: progressLine(outs.prog, "Sending build context to Docker daemon", outs.tty)}
	bo := o.apiOptions(bctx.Dockerfile, c.Host())
	bo.RegistryConfig = dockerconfig.AllAuthsHeader()
	rc, err := c.ImageBuild(ctx, body, bo)
	if err != nil {
		outs.showQuiet(s.Err)
		return err
	}
	defer rc.Close()
	id, err := renderBuild(rc, outs, s.Out, s.Err)
	if err != nil {
		return err
	}
	return writeIIDFile(o.iidfile, id)
}

// renderBuild prints the daemon's stream and returns the built image's ID.
// On a terminal the full output also goes to a log file it names.
func renderBuild(r io.Reader, outs *buildOutputs, out, errOut io.Writer) (string, error) {
	s := &buildStreamer{out: outs.stream, errOut: errOut, compact: outs.tty, now: time.Now}
	logPath := ""
	if outs.tty {
		s.log = io.Discard
		if f, path, err := newBuildLog(); err == nil {
			defer f.Close()
			s.log, logPath = f, path
		}
	}
	err := s.run(r)
	if logPath != "" {
		fmt.Fprintf(outs.stream, "Build log: %s\n", logPath)
	}
	var be *buildError
	if errors.As(err, &be) {
		outs.showQuiet(errOut)
		return "", &command.StatusError{Status: be.Message, Code: max(be.Code, 1)}
	}
	if err != nil {
		return "", err
	}
	if outs.buildBuf != nil {
		// With q=1 the daemon sends the ID as text (and no aux); docker
		// prints and stores that text as is.
		id := outs.buildBuf.String()
		fmt.Fprint(out, id)
		return id, nil
	}
	return s.imageID, nil
}

// writeIIDFile stores the built image's ID for --iidfile.
func writeIIDFile(path, id string) error {
	if path == "" {
		return nil
	}
	if id == "" {
		return fmt.Errorf("server did not provide an image ID. Cannot write %s", path)
	}
	return os.WriteFile(path, []byte(id), 0o666)
}

// apiOptions are the flags as POST /build's options, what docker CLI 28
// sends for them (the client encodes them and leaves defaults out).
func (o *buildOpts) apiOptions(dockerfile, daemonHost string) client.ImageBuildOptions {
	b := client.ImageBuildOptions{
		Tags: o.tags.vals, SecurityOpt: o.securityOpt, ExtraHosts: o.addHosts.vals, CacheFrom: o.cacheFrom,
		SuppressOutput: o.quiet, NoCache: o.noCache, Remove: o.rm, ForceRemove: o.forceRm, PullParent: o.pull, Squash: o.squash,
		Isolation: o.isolation, NetworkMode: o.network, CPUSetCPUs: o.cpusetCPUs, CPUSetMems: o.cpusetMems,
		CgroupParent: o.cgroupParent, Dockerfile: dockerfile, Target: o.target, Platform: o.platform,
		CPUShares: o.cpuShares, CPUQuota: o.cpuQuota, CPUPeriod: o.cpuPeriod,
		Memory: o.memory.n, MemorySwap: o.memorySwap.n, ShmSize: o.shmSize.n,
		Ulimits:   o.ulimits.vals,
		BuildArgs: dockerconfig.ProxyBuildArgs(daemonHost, kvMapWithNil(o.buildArgs.vals)),
		Version:   "1", // the classic builder; BuildKit's session protocol is not spoken
	}
	if len(o.labels.vals) > 0 {
		b.Labels = kvMap(o.labels.vals)
	}
	return b
}

// gzipStream compresses r on the fly (--compress).
func gzipStream(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw, err := compression.CompressStream(pw, compression.Gzip)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.Copy(zw, r); err != nil {
			zw.Close()
			pw.CloseWithError(fmt.Errorf("failed to compress context: %w", err))
			return
		}
		pw.CloseWithError(zw.Close())
	}()
	return pr
}
