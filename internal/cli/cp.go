package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/client"
	archive "github.com/moby/go-archive"
	"github.com/spf13/cobra"
)

type cpOpts struct {
	archive, followLink bool
}

func newCpCmd(a *app) *cobra.Command {
	var o cpOpts
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcCtr, srcPath := splitCpArg(args[0])
			dstCtr, dstPath := splitCpArg(args[1])
			ctx := cmd.Context()
			switch {
			case srcCtr != "" && dstCtr != "":
				return errors.New("copying between containers is not supported")
			case srcCtr != "":
				return a.copyFrom(ctx, o, srcCtr, srcPath, dstPath)
			case dstCtr != "":
				return a.copyTo(ctx, o, srcPath, dstCtr, dstPath)
			}
			return errors.New("must specify at least one container source")
		},
	}
	cmd.Flags().BoolVarP(&o.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	return cmd
}

// splitCpArg splits "ctr:path"; a local path that contains ':' must start
// with '/' or '.' to be read as local, as in docker.
func splitCpArg(arg string) (string, string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return ctr, p
}

func (a *app) copyFrom(ctx context.Context, o cpOpts, ctr, srcPath, dstPath string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if o.followLink {
		if st, err := c.ContainerStatPath(ctx, ctr, srcPath); err == nil && st.Mode&os.ModeSymlink != 0 {
			if st.LinkTarget != "" {
				srcPath = st.LinkTarget
			}
		}
	}
	body, st, err := c.CopyFromContainer(ctx, ctr, srcPath)
	if err != nil {
		return err
	}
	defer body.Close()
	if dstPath == "-" {
		_, err := io.Copy(a.Out, body)
		return err
	}
	info := archive.CopyInfo{Path: srcPath, Exists: true, IsDir: st.Mode.IsDir()}
	// The archive's root entry is named after the path's final element.
	if base := filepath.Base(srcPath); st.Name != "" && base != st.Name {
		info.RebaseName = base
	}
	preserved := archive.PreserveTrailingDotOrSeparator(filepath.Clean(dstPath), dstPath)
	if err := archive.CopyTo(body, info, preserved); err != nil {
		return err
	}
	return nil
}

func (a *app) copyTo(ctx context.Context, o cpOpts, srcPath, ctr, dstPath string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	dst := archive.CopyInfo{Path: dstPath}
	if st, err := c.ContainerStatPath(ctx, ctr, dstPath); err == nil {
		if st.Mode&os.ModeSymlink != 0 && st.LinkTarget != "" {
			dst.Path = st.LinkTarget
		}
		dst.Exists, dst.IsDir = true, st.Mode.IsDir()
	} else if client.StatusOf(err) != http.StatusNotFound {
		return err
	}
	var content io.Reader
	dstDir := dst.Path
	if srcPath == "-" {
		if !dst.IsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dstPath)
		}
		content = a.In
	} else {
		src, err := archive.CopyInfoSourcePath(srcPath, o.followLink)
		if err != nil {
			return err
		}
		rc, err := archive.TarResource(src)
		if err != nil {
			return err
		}
		defer rc.Close()
		d, prepared, err := archive.PrepareArchiveCopy(rc, src, dst)
		if err != nil {
			return err
		}
		defer prepared.Close()
		dstDir, content = d, prepared
	}
	return c.CopyToContainer(ctx, ctr, dstDir, content, client.CopyToContainerOptions{NoOverwriteDirNonDir: true, CopyUIDGID: o.archive})
}
