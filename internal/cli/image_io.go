package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

func newTagCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			repo, tag := splitRepoTag(args[1])
			if tag == "" {
				tag = "latest"
			}
			q := url.Values{"repo": {normalizeName(repo)}, "tag": {tag}}
			return c.Post(cmd.Context(), "/images/"+args[0]+"/tag", q, nil, nil)
		},
	}
}

func newRmiCmd(a *app) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove one or more images",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			setFlag(q, "force", force)
			setFlag(q, "noprune", noPrune)
			var errs []string
			for _, img := range args {
				var resp []image.DeleteResponse
				if err := c.Call(cmd.Context(), client.Request{Method: http.MethodDelete, Path: "/images/" + img, Query: q}, &resp); err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, d := range resp {
					if d.Untagged != "" {
						fmt.Fprintln(a.Out, "Untagged:", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintln(a.Out, "Deleted:", d.Deleted)
					}
				}
			}
			if len(errs) > 0 {
				return &StatusError{Status: strings.Join(errs, "\n"), Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func newImportCmd(a *app) *cobra.Command {
	var changes []string
	var message, platform string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{"fromSrc": {"-"}}
			var body io.Reader
			switch src := args[0]; {
			case src == "-":
				body = a.In
			case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
				q.Set("fromSrc", src)
			default:
				f, err := os.Open(src)
				if err != nil {
					return err
				}
				defer f.Close()
				body = f
			}
			if len(args) == 2 {
				q.Set("repo", args[1])
			}
			if message != "" {
				q.Set("message", message)
			}
			if platform != "" {
				q.Set("platform", platform)
			}
			for _, ch := range changes {
				q.Add("changes", ch)
			}
			req := client.Request{Method: http.MethodPost, Path: "/images/create", Query: q, Body: body}
			if body != nil {
				req.Headers = http.Header{"Content-Type": {"application/x-tar"}}
			}
			return a.streamCall(cmd.Context(), c, req)
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	cmd.Flags().StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

// streamCall sends req and prints the daemon's JSON message stream to stdout.
func (a *app) streamCall(ctx context.Context, c *client.Client, req client.Request) error {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printJSONStream(resp.Body, a.Out)
}

func newLoadCmd(a *app) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var body io.Reader = a.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				body = f
			} else if isTerminal(a.In) {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			q := url.Values{}
			if quiet || !isTerminal(a.Out) {
				q.Set("quiet", "1")
			}
			return a.streamCall(cmd.Context(), c, client.Request{Method: http.MethodPost, Path: "/images/load", Query: q,
				Body: body, Headers: http.Header{"Content-Type": {"application/x-tar"}}})
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newSaveCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.download(cmd, "/images/get", url.Values{"names": args}, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func newImagePruneCmd(a *app) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "WARNING! This will remove all dangling images."
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !a.confirm(warning) {
				return nil
			}
			n, err := a.pruneImages(cmd.Context(), all, filters)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, "Total reclaimed space:", humanSize(n))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}
