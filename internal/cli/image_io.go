package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newTagCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := tagQuery(args[0], args[1])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return c.Post(cmd.Context(), "/images/"+args[0]+"/tag", q, nil, nil)
		},
	}
}

// tagQuery checks source and target as docker's client does and sends the
// target fully qualified (docker.io/library/x), with its tag.
func tagQuery(source, target string) (url.Values, error) {
	if _, err := reference.ParseAnyReference(source); err != nil {
		return nil, fmt.Errorf("Error parsing reference: %q is not a valid repository/tag: %w", source, err)
	}
	ref, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return nil, fmt.Errorf("Error parsing reference: %q is not a valid repository/tag: %w", target, err)
	}
	if _, ok := ref.(reference.Canonical); ok {
		return nil, errors.New("refusing to create a tag with a digest reference")
	}
	ref = reference.TagNameOnly(ref)
	q := url.Values{"repo": {ref.Name()}}
	if t, ok := ref.(reference.Tagged); ok {
		q.Set("tag", t.Tag())
	}
	return q, nil
}

func newRmiCmd(a *app) *cobra.Command {
	var force, noPrune bool
	var platforms []string
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
			for _, p := range platforms {
				if err := setPlatform(q, p); err != nil {
					return err
				}
			}
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
	cmd.Flags().StringSliceVar(&platforms, "platform", nil, `Remove only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
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
	return printStream(resp.Body, a.Out)
}

func newLoadCmd(a *app) *cobra.Command {
	var input string
	var quiet bool
	var platform string
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
			if err := setPlatform(q, platform); err != nil {
				return err
			}
			if quiet || !isTerminal(a.Out) {
				q.Set("quiet", "1")
			}
			return a.streamCall(cmd.Context(), c, client.Request{Method: http.MethodPost, Path: "/images/load", Query: q,
				Body: body, Headers: http.Header{"Content-Type": {"application/x-tar"}}})
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	cmd.Flags().StringVar(&platform, "platform", "", `Load only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

func newSaveCmd(a *app) *cobra.Command {
	var output, platform string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"names": args}
			if err := setPlatform(q, platform); err != nil {
				return err
			}
			return a.saveImages(cmd.Context(), q, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().StringVar(&platform, "platform", "", `Save only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// saveImages writes the archive of names to output (stdout if empty). As
// with docker, the file appears only once the whole archive is written,
// so a failed save leaves nothing.
func (a *app) saveImages(ctx context.Context, q url.Values, output string) error {
	if output == "" && isTerminal(a.Out) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	if output != "" {
		if fi, err := os.Stat(filepath.Dir(output)); err != nil || !fi.IsDir() {
			return fmt.Errorf("failed to save image: invalid output path: directory %q does not exist", filepath.Dir(output))
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, client.Request{Method: http.MethodGet, Path: "/images/get", Query: q})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if output == "" {
		_, err := io.Copy(a.Out, resp.Body)
		return err
	}
	return copyToFile(output, resp.Body)
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

// setPlatform puts --platform ("os[/arch[/variant]]") into q as the JSON
// OCI platform docker's client sends to save, load, rmi and history.
func setPlatform(q url.Values, platform string) error {
	p, err := parsePlatform(platform)
	if err != nil || p == nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	q.Add("platform", string(b))
	return nil
}

// parsePlatform reads --platform ("os[/arch[/variant]]"); "" is none.
func parsePlatform(platform string) (*ocispec.Platform, error) {
	if platform == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(platform), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("invalid platform %q: expected os[/arch[/variant]]", platform)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return &p, nil
}
