package banbolt_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
)

// fullDir, set in the child, is where it mounts its small tmpfs.
const fullDir = "BANBOLT_FULL_DIR"

// TestFullDisk writes to a store on a 512 KiB tmpfs until a Write fails,
// in a mount namespace of its own (root, SIPBAN_NETNS=1), and checks that
// the failure is an error and that every acknowledged batch is still read,
// before and after reopening.
func TestFullDisk(t *testing.T) {
	if dir := os.Getenv(fullDir); dir != "" {
		fullDisk(t, dir)
		return
	}
	if os.Getenv("SIPBAN_NETNS") != "1" {
		t.Skip("mounts a tmpfs: run as root with SIPBAN_NETNS=1 (.ci/run does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SIPBAN_NETNS=1 but not root: cannot make a mount namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFullDisk$", "-test.v")
	cmd.Env = append(os.Environ(), fullDir+"="+t.TempDir())
	// Go makes the child's mounts private, so the tmpfs never shows outside.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

func fullDisk(t *testing.T, dir string) {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	defer syscall.Unmount(dir, 0)
	path := filepath.Join(dir, "bans.db")
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	acked, werr := 0, error(nil)
	for i := 0; i < 10000; i++ {
		if werr = s.Write(context.Background(), records(acked, 64)); werr != nil {
			break
		}
		acked += 64
	}
	if werr == nil {
		t.Fatalf("%d records written to a 512 KiB filesystem without an error", acked)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Errorf("the failing Write's error does not wrap ENOSPC: %v", werr)
	}
	t.Logf("Write failed after %d records: %v", acked, werr)
	count(t, s, acked)
	if err := s.Close(); err != nil {
		t.Logf("Close on a full filesystem: %v", err)
	}
	s, err = banbolt.Open(path, nil)
	if err != nil {
		t.Fatalf("reopen after a full filesystem: %v", err)
	}
	defer s.Close()
	count(t, s, acked)
}

func count(t *testing.T, s *banbolt.Store, want int) {
	t.Helper()
	n := 0
	if err := s.Load(context.Background(), func(ban.Change) error { n++; return nil }); err != nil {
		t.Fatalf("Load after a failed Write: %v", err)
	}
	if n != want {
		t.Errorf("%d records loaded, %d acknowledged", n, want)
	}
}
