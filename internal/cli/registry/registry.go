// Package registry is `berth login`, `logout` and `search`: docker CLI
// 28's registry commands, keeping credentials where docker keeps them
// (internal/cli/dockerconfig) so both CLIs share a login.
package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/dockerconfig"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/registry"
	"github.com/spf13/cobra"
)

// LoginOptions are `login`'s flags and argument.
type LoginOptions struct {
	Server, User, Password string
	PasswordStdin          bool
}

// NewLoginCommand is `berth login`.
func NewLoginCommand(e *command.Env) *cobra.Command {
	var o LoginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  command.MaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Server = dockerconfig.DockerHubServer
			if len(args) == 1 {
				o.Server = args[0]
			}
			if o.PasswordStdin {
				b, err := io.ReadAll(bufio.NewReader(e.In))
				if err != nil {
					return err
				}
				o.Password = strings.TrimRight(string(b), "\r\n")
			}
			if o.User == "" || o.Password == "" {
				return errors.New("Error: Cannot perform an interactive login from a non TTY device")
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Login(cmd.Context(), c, o, e.Out)
		},
	}
	cmd.Flags().StringVarP(&o.User, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&o.Password, "password", "p", "", "Password or Personal Access Token (PAT)")
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

// Login has the daemon check the credentials with the registry, stores
// them (with the identity token the registry may hand back) and prints
// the daemon's status.
func Login(ctx context.Context, c *client.Client, o LoginOptions, out io.Writer) error {
	resp, err := c.RegistryLogin(ctx, registry.AuthConfig{Username: o.User, Password: o.Password, ServerAddress: o.Server})
	if err != nil {
		return err
	}
	cfg, err := dockerconfig.Load()
	if err != nil {
		return err
	}
	if err := cfg.StoreCreds(o.Server, dockerconfig.Creds{User: o.User, Pass: o.Password, Token: resp.IdentityToken}); err != nil {
		return err
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintln(out, resp.Status)
	return nil
}

// NewLogoutCommand is `berth logout`.
func NewLogoutCommand(e *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  command.MaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			server := dockerconfig.DockerHubServer
			if len(args) == 1 {
				server = args[0]
			}
			return Logout(server, e.Out, e.Err)
		},
	}
}

// Logout forgets server's credentials; it needs no daemon.
func Logout(server string, out, errOut io.Writer) error {
	cfg, err := dockerconfig.Load()
	if err != nil {
		return err
	}
	if _, ok := cfg.Auths()[server]; !ok {
		fmt.Fprintf(out, "Not logged in to %s\n", server)
		return nil
	}
	fmt.Fprintf(out, "Removing login credentials for %s\n", server)
	if err := cfg.EraseCreds(server); err != nil {
		fmt.Fprintf(errOut, "WARNING: could not erase credentials: %s: %v\n", server, err)
	}
	return cfg.Save()
}

const searchDefaultFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

var searchHeaders = map[string]string{"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
	"IsOfficial": "OFFICIAL"}

// searchRow is one result of `search`.
type searchRow struct {
	r     registry.SearchResult
	trunc bool
}

func (s searchRow) Name() string { return s.r.Name }

// Description is on one line and, unless --no-trunc, cut to 45 runes.
func (s searchRow) Description() string {
	d := strings.NewReplacer("\n", " ", "\r", " ").Replace(s.r.Description)
	if s.trunc {
		d = command.Ellipsis(d, 45)
	}
	return d
}

func (s searchRow) StarCount() string { return strconv.Itoa(s.r.StarCount) }

func (s searchRow) IsOfficial() string {
	if s.r.IsOfficial {
		return "[OK]"
	}
	return ""
}

// MarshalJSON gives --format json and {{json .}} the row's fields; docker
// writes IsOfficial there as "true"/"false", not "[OK]".
func (s searchRow) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"Name": s.Name(), "Description": s.Description(), "StarCount": s.StarCount(),
		"IsOfficial": strconv.FormatBool(s.r.IsOfficial)})
}

// SearchOptions are `search`'s flags.
type SearchOptions struct {
	NoTrunc bool
	Limit   int
	Format  string
	Filter  []string
}

// NewSearchCommand is `berth search`.
func NewSearchCommand(e *command.Env) *cobra.Command {
	var o SearchOptions
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub for images",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Search(cmd.Context(), c, args[0], o, e.Out, e.Err)
		}),
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.Filter, "filter", "f", nil, "Filter output based on conditions provided")
	fs.StringVar(&o.Format, "format", "", "Pretty-print search using a Go template")
	fs.IntVar(&o.Limit, "limit", 0, "Max number of search results")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
}

// Search is `search`: the registry's results as docker's table.
func Search(ctx context.Context, c *client.Client, term string, o SearchOptions, out, errOut io.Writer) error {
	for _, f := range o.Filter {
		if f == "is-automated" || strings.HasPrefix(f, "is-automated=") {
			fmt.Fprintln(errOut, `WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.`)
		}
	}
	results, err := c.ImageSearch(ctx, term, client.ImageSearchOptions{Limit: o.Limit, Filters: client.ParseFilters(o.Filter),
		RegistryAuth: dockerconfig.AuthHeader(term)})
	if err != nil {
		return err
	}
	format := o.Format
	if format == "" || format == "table" {
		format = searchDefaultFormat
	}
	rows := make([]any, len(results))
	for i, r := range results {
		rows[i] = searchRow{r: r, trunc: !o.NoTrunc}
	}
	return command.Table{Format: format, Headers: searchHeaders}.Render(out, rows)
}
