package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"
)

func newTagCmd(e *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Tag(cmd.Context(), e.Client, args[0], args[1])
		},
	}
}

// Tag is `tag`: source and target are checked as docker's client checks
// them before the client is asked for.
func Tag(ctx context.Context, dial func() (*client.Client, error), source, target string) error {
	repo, tag, err := TagTarget(source, target)
	if err != nil {
		return err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	return c.ImageTag(ctx, source, repo, tag)
}

// TagTarget checks source and target as docker's client does and answers
// the target fully qualified (docker.io/library/x) with its tag.
func TagTarget(source, target string) (repo, tag string, err error) {
	if _, err := reference.ParseAnyReference(source); err != nil {
		return "", "", fmt.Errorf("Error parsing reference: %q is not a valid repository/tag: %w", source, err)
	}
	ref, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return "", "", fmt.Errorf("Error parsing reference: %q is not a valid repository/tag: %w", target, err)
	}
	if _, ok := ref.(reference.Canonical); ok {
		return "", "", errors.New("refusing to create a tag with a digest reference")
	}
	ref = reference.TagNameOnly(ref)
	if t, ok := ref.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return ref.Name(), tag, nil
}

// RemoveOptions are `rmi`'s flags.
type RemoveOptions struct {
	Force, NoPrune bool
	Platforms      []string
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	var o RemoveOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove one or more images",
		Args:    command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Remove(cmd.Context(), c, args, o, e.Out)
		}),
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&o.NoPrune, "no-prune", false, "Do not delete untagged parents")
	cmd.Flags().StringSliceVar(&o.Platforms, "platform", nil, `Remove only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// Remove is `rmi`: what each removal untagged and deleted goes to out;
// the failures are answered together after the others are done.
func Remove(ctx context.Context, c *client.Client, images []string, o RemoveOptions, out io.Writer) error {
	platforms, err := command.Platforms(o.Platforms...)
	if err != nil {
		return err
	}
	opts := client.ImageRemoveOptions{Force: o.Force, NoPrune: o.NoPrune, Platforms: platforms}
	var errs []string
	for _, img := range images {
		resp, err := c.ImageRemove(ctx, img, opts)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, d := range resp {
			if d.Untagged != "" {
				fmt.Fprintln(out, "Untagged:", d.Untagged)
			}
			if d.Deleted != "" {
				fmt.Fprintln(out, "Deleted:", d.Deleted)
			}
		}
	}
	if len(errs) > 0 {
		return &command.StatusError{Status: strings.Join(errs, "\n"), Code: 1}
	}
	return nil
}

// ImportOptions are `import`'s flags; Source is the file, URL or "-",
// Repo the optional REPOSITORY[:TAG].
type ImportOptions struct {
	Source, Repo, Message, Platform string
	Changes                         []string
}

func newImportCmd(e *command.Env) *cobra.Command {
	var o ImportOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  command.RangeArgs(1, 2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			o.Source = args[0]
			if len(args) == 2 {
				o.Repo = args[1]
			}
			return Import(cmd.Context(), c, o, e.In, e.Out)
		}),
	}
	cmd.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "Set commit message for imported image")
	cmd.Flags().StringVar(&o.Platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

// Import is `import`: a tar from in ("-"), a file, or a URL the daemon
// fetches; the daemon's stream goes to out.
func Import(ctx context.Context, c *client.Client, o ImportOptions, in io.Reader, out io.Writer) error {
	src := "-"
	var body io.Reader
	switch {
	case o.Source == "-":
		body = in
	case strings.HasPrefix(o.Source, "http://") || strings.HasPrefix(o.Source, "https://"):
		src = o.Source
	default:
		f, err := os.Open(o.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	}
	rc, err := c.ImageImport(ctx, src, body, client.ImageImportOptions{Repo: o.Repo, Message: o.Message,
		Platform: o.Platform, Changes: o.Changes})
	return command.PrintStreamOf(out, rc, err)
}

// LoadOptions are `load`'s flags.
type LoadOptions struct {
	Input, Platform string
	Quiet           bool
}

func newLoadCmd(e *command.Env) *cobra.Command {
	var o LoadOptions
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Load(cmd.Context(), c, o, e.In, e.Out)
		}),
	}
	cmd.Flags().StringVarP(&o.Input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress the load output")
	cmd.Flags().StringVar(&o.Platform, "platform", "", `Load only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// Load is `load`: the archive from --input or in (not a terminal); the
// daemon is asked to be quiet unless out is a terminal, as docker does.
func Load(ctx context.Context, c *client.Client, o LoadOptions, in io.Reader, out io.Writer) error {
	body := in
	if o.Input != "" {
		f, err := os.Open(o.Input)
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	} else if command.IsTerminal(in) {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	platforms, err := command.Platforms(o.Platform)
	if err != nil {
		return err
	}
	rc, err := c.ImageLoad(ctx, body, client.ImageLoadOptions{Quiet: o.Quiet || !command.IsTerminal(out), Platforms: platforms})
	return command.PrintStreamOf(out, rc, err)
}

// SaveOptions are `save`'s flags.
type SaveOptions struct {
	Output, Platform string
}

func newSaveCmd(e *command.Env) *cobra.Command {
	var o SaveOptions
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Save(cmd.Context(), e.Client, args, o, e.Out)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().StringVar(&o.Platform, "platform", "", `Save only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// Save writes the archive of names to o.Output (out if empty). As with
// docker, the file appears only once the whole archive is written, so a
// failed save leaves nothing.
func Save(ctx context.Context, dial func() (*client.Client, error), names []string, o SaveOptions, out io.Writer) error {
	platforms, err := command.Platforms(o.Platform)
	if err != nil {
		return err
	}
	if o.Output == "" && command.IsTerminal(out) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	if o.Output != "" {
		if fi, err := os.Stat(filepath.Dir(o.Output)); err != nil || !fi.IsDir() {
			return fmt.Errorf("failed to save image: invalid output path: directory %q does not exist", filepath.Dir(o.Output))
		}
	}
	c, err := dial()
	if err != nil {
		return err
	}
	rc, err := c.ImageSave(ctx, names, client.ImageSaveOptions{Platforms: platforms})
	if err != nil {
		return err
	}
	defer rc.Close()
	if o.Output == "" {
		_, err := io.Copy(out, rc)
		return err
	}
	return copyToFile(o.Output, rc)
}

// copyToFile writes r to a temp file beside path and renames it into place.
func copyToFile(path string, r io.Reader) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".berth_temp_")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
