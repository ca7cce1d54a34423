package compose

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions are the project flags every compose command takes.
type LoadOptions struct {
	Files      []string // -f; empty means compose.yaml / docker-compose.yml discovery
	Name       string   // -p; empty means the name: key, COMPOSE_PROJECT_NAME or the directory
	WorkDir    string   // --project-directory
	EnvFiles   []string // --env-file; empty means .env in the project directory
	Profiles   []string // --profile; COMPOSE_PROFILES otherwise
	AllEnabled bool     // enable every profile (config, down and ls-like commands)
}

// Load reads, merges, interpolates and validates the project the options
// name. Errors carry the file and key path, as compose-go words them.
func Load(ctx context.Context, o LoadOptions) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(o.WorkDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithName(o.Name),
		cli.WithResolvedPaths(true),
		cli.WithDefaultProfiles(o.Profiles...),
	}
	po, err := cli.NewProjectOptions(o.Files, opts...)
	if err != nil {
		return nil, err
	}
	if len(o.Profiles) == 0 {
		if p := po.Environment["COMPOSE_PROFILES"]; p != "" {
			if err := cli.WithDefaultProfiles(splitComma(p)...)(po); err != nil {
				return nil, err
			}
		}
	}
	if o.AllEnabled {
		if err := cli.WithProfiles([]string{"*"})(po); err != nil {
			return nil, err
		}
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	if err := graph.CheckCycle(p); err != nil {
		return nil, err
	}
	return p, nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// workDirOr returns the project's working directory or the process's.
func workDirOr(p *types.Project) string {
	if p.WorkingDir != "" {
		return p.WorkingDir
	}
	wd, _ := os.Getwd()
	return wd
}

// notFound wraps a "no such service" error in Compose's words.
func noSuchService(name string) error {
	return fmt.Errorf("no such service: %s", name)
}
