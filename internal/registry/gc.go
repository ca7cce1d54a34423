package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// repositoriesPath is where distribution's storage layout keeps
// repositories, relative to the driver's root.
const repositoriesPath = "/docker/registry/v2/repositories"

// GCOptions select how garbage collection runs.
type GCOptions struct {
	DryRun         bool // report what would go, remove nothing
	RemoveUntagged bool // also delete manifests no tag points at
	Quiet          bool // no per-blob output
}

// GarbageCollect removes blobs no manifest references from cfg's storage,
// with distribution's mark-and-sweep. The registry must not take pushes
// while it runs (distribution's own rule): a blob uploaded during the mark
// phase could be swept.
func GarbageCollect(ctx context.Context, cfg *configuration.Configuration, opts GCOptions) error {
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return fmt.Errorf("storage driver %s: %w", cfg.Storage.Type(), err)
	}
	// A registry nothing was ever pushed to has no repositories directory;
	// distribution's mark phase reports that as an error, but there is
	// simply nothing to collect.
	if _, err := driver.Stat(ctx, repositoriesPath); err != nil {
		var notFound storagedriver.PathNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("storage: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	err = storage.MarkAndSweep(ctx, driver, ns, storage.GCOpts{
		DryRun:         opts.DryRun,
		RemoveUntagged: opts.RemoveUntagged,
		Quiet:          opts.Quiet,
	})
	if err != nil {
		return fmt.Errorf("garbage collect: %w", err)
	}
	return nil
}
