package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/berth-project/berth/internal/client"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"
)

type pushOptions struct {
	all, quiet bool
}

func newPushCmd(a *app) *cobra.Command {
	var opts pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.push(cmd.Context(), args[0], opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.all, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// push asks the daemon to push ref with the stored credentials of its
// registry, as `docker push` does.
func (a *app) push(ctx context.Context, ref string, opts pushOptions) error {
	named, err := reference.ParseNormalizedNamed(ref)
	switch {
	case err != nil:
		return err
	case opts.all && !reference.IsNameOnly(named):
		return errors.New("tag can't be used with --all-tags/-a")
	case !opts.all && reference.IsNameOnly(named):
		named = reference.TagNameOnly(named)
		if !opts.quiet {
			fmt.Fprintln(a.Out, "Using default tag: latest")
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if t, ok := named.(reference.Tagged); ok {
		q.Set("tag", t.Tag())
	}
	req := client.Request{Method: http.MethodPost, Path: "/images/" + reference.FamiliarName(named) + "/push",
		Query: q, Headers: http.Header{}}
	// The daemon wants the header even for anonymous pushes.
	h := registryAuthHeader(reference.FamiliarString(named))
	if h == "" {
		h = base64Empty
	}
	req.Headers.Set("X-Registry-Auth", h)
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := a.Out
	if opts.quiet {
		out = io.Discard
	}
	if err := showProgress(resp.Body, out); err != nil {
		return err
	}
	if opts.quiet {
		fmt.Fprintln(a.Out, named.String())
	}
	return nil
}

// base64Empty is "{}" base64url-encoded: no credentials.
const base64Empty = "e30="
