package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

func newPullCmd(a *app) *cobra.Command {
	var platform string
	var quiet, allTags bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ref := normalizeRef(args[0])
			name, tag := splitRepoTag(ref)
			q := url.Values{"fromImage": {name}, "tag": {tag}}
			if allTags {
				// No tag at all asks the daemon for every tag, as docker does.
				if ref != args[0]+":latest" {
					return fmt.Errorf("tag can't be used with --all-tags/-a")
				}
				ref = args[0]
				q = url.Values{"fromImage": {args[0]}}
			} else if ref == args[0]+":latest" && !quiet {
				fmt.Fprintln(a.Out, "Using default tag: latest")
			}
			if platform != "" {
				q.Set("platform", platform)
			}
			req := client.Request{Method: http.MethodPost, Path: "/images/create", Query: q, Headers: http.Header{}}
			if h := registryAuthHeader(ref); h != "" {
				req.Headers.Set("X-Registry-Auth", h)
			}
			resp, err := c.Do(cmd.Context(), req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			out := a.Out
			if quiet {
				out = io.Discard
			}
			if err := showProgress(resp.Body, out); err != nil {
				return err
			}
			fmt.Fprintln(a.Out, ref)
			return nil
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().BoolVarP(&allTags, "all-tags", "a", false, "Download all tagged images in the repository")
	return cmd
}
