package image

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/dockerconfig"
	"github.com/berth-project/berth/internal/client"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"
)

// PullOptions are `pull`'s flags.
type PullOptions struct {
	Platform       string
	Quiet, AllTags bool
}

func newPullCmd(e *command.Env) *cobra.Command {
	var o PullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Pull(cmd.Context(), c, args[0], o, e.Out)
		}),
	}
	cmd.Flags().StringVar(&o.Platform, "platform", "", "Set platform if server is multi-platform capable")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().BoolVarP(&o.AllTags, "all-tags", "a", false, "Download all tagged images in the repository")
	return cmd
}

// Pull is `pull`: the progress (unless quiet), then the reference pulled.
func Pull(ctx context.Context, c *client.Client, arg string, o PullOptions, out io.Writer) error {
	ref := command.NormalizeRef(arg)
	name, tag := command.SplitRepoTag(ref)
	if o.AllTags {
		// No tag at all asks the daemon for every tag, as docker does.
		if ref != arg+":latest" {
			return fmt.Errorf("tag can't be used with --all-tags/-a")
		}
		ref, name, tag = arg, arg, ""
	} else if ref == arg+":latest" && !o.Quiet {
		fmt.Fprintln(out, "Using default tag: latest")
	}
	rc, err := c.ImagePull(ctx, name, client.ImagePullOptions{Tag: tag, Platform: o.Platform, RegistryAuth: dockerconfig.AuthHeader(ref)})
	if err != nil {
		return err
	}
	defer rc.Close()
	progress := out
	if o.Quiet {
		progress = io.Discard
	}
	if err := command.ShowProgress(rc, progress); err != nil {
		return err
	}
	fmt.Fprintln(out, ref)
	return nil
}

// PullMissing pulls ref for run and create, its progress on progress
// (their stderr), with the stored credentials of its registry.
func PullMissing(ctx context.Context, c *client.Client, ref string, progress io.Writer) error {
	ref = command.NormalizeRef(ref)
	name, tag := command.SplitRepoTag(ref)
	rc, err := c.ImagePull(ctx, name, client.ImagePullOptions{Tag: tag, RegistryAuth: dockerconfig.AuthHeader(ref)})
	if err != nil {
		return err
	}
	defer rc.Close()
	return command.ShowProgress(rc, progress)
}

// PushOptions are `push`'s flags.
type PushOptions struct {
	AllTags, Quiet bool
}

func newPushCmd(e *command.Env) *cobra.Command {
	var o PushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Push(cmd.Context(), e.Client, args[0], o, e.Out)
		},
	}
	cmd.Flags().BoolVarP(&o.AllTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// Push asks the daemon to push ref with the stored credentials of its
// registry, as `docker push` does; the reference is checked before the
// client is dialled.
func Push(ctx context.Context, dial func() (*client.Client, error), ref string, o PushOptions, out io.Writer) error {
	named, err := reference.ParseNormalizedNamed(ref)
	switch {
	case err != nil:
		return err
	case o.AllTags && !reference.IsNameOnly(named):
		return errors.New("tag can't be used with --all-tags/-a")
	case !o.AllTags && reference.IsNameOnly(named):
		named = reference.TagNameOnly(named)
		if !o.Quiet {
			fmt.Fprintln(out, "Using default tag: latest")
		}
	}
	c, err := dial()
	if err != nil {
		return err
	}
	opts := client.ImagePushOptions{RegistryAuth: dockerconfig.AuthHeader(reference.FamiliarString(named))}
	if t, ok := named.(reference.Tagged); ok {
		opts.Tag = t.Tag()
	}
	rc, err := c.ImagePush(ctx, reference.FamiliarName(named), opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	progress := out
	if o.Quiet {
		progress = io.Discard
	}
	if err := command.ShowProgress(rc, progress); err != nil {
		return err
	}
	if o.Quiet {
		fmt.Fprintln(out, named.String())
	}
	return nil
}
