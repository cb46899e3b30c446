//go:build linux

// Package netnstest runs a package's kernel tests inside a network namespace
// of their own, so that they can change netfilter rules and send packets on
// loopback without touching the host.
//
// A package that has such tests calls Main from TestMain and Require at the
// top of each kernel test:
//
//	func TestMain(m *testing.M) { netnstest.Main(m) }
//
//	func TestDrops(t *testing.T) {
//		netnstest.Require(t)
//		...
//	}
//
// With SIPBAN_NETNS=1 (as root, as .ci/run does) Main starts the test binary
// again in a new network namespace with loopback up (and a mount namespace
// of its own, for Sysfs), and Require fails any
// test that finds itself in the host's namespace. Without it, Require skips:
// `go test ./...` on a plain machine passes without root.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	selectVar = "SIPBAN_NETNS"
	// hostVar carries the host namespace's identity into the child, so
	// the child can prove it is elsewhere.
	hostVar = "SIPBAN_NETNS_HOST"
)

// Selected reports whether kernel tests were asked for.
func Selected() bool { return os.Getenv(selectVar) == "1" }

// Main runs m, inside a fresh network namespace when kernel tests were
// selected. It does not return.
func Main(m *testing.M) {
	if !Selected() {
		os.Exit(m.Run())
	}
	if os.Getenv(hostVar) == "" {
		os.Exit(reexec())
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "netnstest:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// reexec runs this test binary again with the same arguments in new network
// and mount namespaces and returns its exit code.
func reexec() int {
	host, err := nsID()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netnstest:", err)
		return 2
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), hostVar+"="+host)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "netnstest: cannot start a network namespace (root needed): %v\n", err)
		return 2
	}
	return 0
}

// setup keeps this namespace's mounts from the host's and brings loopback
// up; a new namespace starts with it down.
func setup() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

func nsID() (string, error) {
	id, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", fmt.Errorf("read own network namespace: %w", err)
	}
	return id, nil
}

// Require skips t unless kernel tests were selected, and fails it if it is
// not running in a namespace of its own.
func Require(t testing.TB) {
	t.Helper()
	if !Selected() {
		t.Skip("kernel test: run as root with SIPBAN_NETNS=1 (.ci/run does)")
	}
	id, err := nsID()
	if err != nil {
		t.Fatal(err)
	}
	if host := os.Getenv(hostVar); host == "" || host == id {
		t.Fatalf("netnstest: in the host's network namespace (%s); call netnstest.Main from TestMain", id)
	}
}

// Sysfs mounts a sysfs of the test's own namespace, whose class/net lists
// its devices (the host's /sys lists the host's), and returns its path.
func Sysfs(t testing.TB) string {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	if err := unix.Mount("sysfs", dir, "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("netnstest: mount sysfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("netnstest: unmount sysfs: %v", err)
		}
	})
	return dir
}
