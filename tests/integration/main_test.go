// Package integration runs one scenario table through the real docker CLI and
// bin/berth against a private daemon: berthd by default, or a real dockerd
// with BERTH_TEST_TARGET=dockerd to prove the expectations are Docker's.
package integration

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// suite is what every test shares: one daemon per test binary, started in
// TestMain, and the fixture image bytes. Set once before m.Run, read-only after.
type suite struct {
	daemon  *testutil.Daemon
	cfgDir  string
	tarPath string
	tarData []byte
	drivers []testutil.Driver
}

var env *suite // set once in TestMain; tests only read it

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration: skipped in -short mode")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Println("integration: skipped, needs root")
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	target := testutil.TargetFromEnv()
	if target == testutil.TargetBerthd {
		repo, err := testutil.RepoRoot()
		if err == nil {
			if _, err = os.Stat(filepath.Join(testutil.BinDir(repo), "berthd")); err != nil {
				err = fmt.Errorf("bin/berthd missing, run make build: %w", err)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
	}
	d, err := testutil.StartDaemon(ctx, target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: start daemon:", err)
		return 1
	}
	s := &suite{daemon: d, cfgDir: filepath.Join(d.Dir, "cfg"), tarPath: filepath.Join(d.Dir, "bb.tar")}
	var once sync.Once
	var stopErr error
	teardown := func() {
		once.Do(func() {
			cleanupAll(ctx, s)
			if stopErr = d.Stop(); stopErr != nil {
				fmt.Fprintln(os.Stderr, "integration: stop daemon:", stopErr)
			}
		})
	}
	defer teardown()
	// An interrupted run (ctrl-c, SIGTERM) still stops its daemon and containers.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			teardown()
			os.Exit(130)
		}
	}()
	if err := prepareFixture(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err, "\ndaemon log:\n", d.LogTail(3000))
		return 1
	}
	env = s
	code := m.Run()
	if code != 0 && os.Getenv("BERTH_TEST_LOG") != "" {
		fmt.Fprintln(os.Stderr, "daemon log tail:\n", d.LogTail(8000))
	}
	// What the daemon leaves behind when it stops fails the run.
	if teardown(); stopErr != nil && code == 0 {
		code = 1
	}
	return code
}

// prepareFixture builds the busybox tar and imports it once as busybox:latest.
func prepareFixture(ctx context.Context, s *suite) error {
	if err := os.MkdirAll(s.cfgDir, 0o700); err != nil {
		return fmt.Errorf("cli config dir: %w", err)
	}
	data, err := testutil.BusyboxTarBytes()
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.tarPath, data, 0o644); err != nil {
		return fmt.Errorf("write fixture: %w", err)
	}
	s.tarData = data
	s.drivers = testutil.Drivers(s.daemon, s.cfgDir)
	r := testutil.DockerDriver(s.daemon, s.cfgDir).Run(ctx, bytes.NewReader(data), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest")
	if r.Code != 0 {
		return fmt.Errorf("import fixture: %s", r)
	}
	return nil
}

// cleanupAll removes every container left (tests remove their own; this is
// the safety net) and any monitor process of this daemon, by pid.
func cleanupAll(ctx context.Context, s *suite) {
	dr := testutil.DockerDriver(s.daemon, s.cfgDir)
	if ids := strings.Fields(dr.Run(ctx, nil, "ps", "-aq").Stdout); len(ids) > 0 {
		dr.Run(ctx, nil, append([]string{"rm", "-f"}, ids...)...)
	}
}

// forEachDriver runs every scenario of table under each CLI driver.
func forEachDriver(t *testing.T, table []scenario) {
	t.Helper()
	if env == nil {
		t.Skip("no daemon")
	}
	for _, dr := range env.drivers {
		t.Run(dr.Name, func(t *testing.T) {
			for _, sc := range table {
				t.Run(sc.name, func(t *testing.T) {
					sc.fn(newCase(t, dr))
				})
			}
		})
	}
}
