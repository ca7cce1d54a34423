package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	archive "github.com/moby/go-archive"
	"github.com/spf13/cobra"
)

// CpOptions are cp's flags.
type CpOptions struct {
	Archive, FollowLink bool
}

func newCpCmd(e *Env) *cobra.Command {
	var o CpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  command.ExactArgs(2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Copy(cmd.Context(), c, e.Streams, o, args[0], args[1])
		}),
	}
	cmd.Flags().BoolVarP(&o.Archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&o.FollowLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	return cmd
}

// Copy is docker cp from src to dst, one of them "CONTAINER:PATH"; "-" is
// a tar on s.In or s.Out.
func Copy(ctx context.Context, c *client.Client, s command.Streams, o CpOptions, src, dst string) error {
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr == "" && dstCtr == "":
		return errors.New("must specify at least one container source")
	}
	if srcCtr != "" {
		return copyFrom(ctx, c, s.Out, o, srcCtr, srcPath, dstPath)
	}
	return copyTo(ctx, c, s.In, o, srcPath, dstCtr, dstPath)
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

func copyFrom(ctx context.Context, c *client.Client, out io.Writer, o CpOptions, ctr, srcPath, dstPath string) error {
	if o.FollowLink {
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
		_, err := io.Copy(out, body)
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

func copyTo(ctx context.Context, c *client.Client, in io.Reader, o CpOptions, srcPath, ctr, dstPath string) error {
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
		content = in
	} else {
		src, err := archive.CopyInfoSourcePath(srcPath, o.FollowLink)
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
	return c.CopyToContainer(ctx, ctr, dstDir, content, client.CopyToContainerOptions{NoOverwriteDirNonDir: true, CopyUIDGID: o.Archive})
}
