// Package redistest runs a real redis-server for tests: on a loopback port
// of its own, without persistence, in a temporary directory, stopped at the
// test's cleanup. Tests that need it are selected by SIPBAN_REDIS=1.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Env is the variable that selects the tests that run a redis-server.
const Env = "SIPBAN_REDIS"

// Server is one redis-server process. Stop and Start may be called in turn
// any number of times; the port stays the same. It is not safe for
// concurrent use.
type Server struct {
	// Addr is host:port, for redis.Options.Addr.
	Addr string
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start skips t unless SIPBAN_REDIS=1, and then starts a redis-server,
// failing t when there is none. It is stopped at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(Env) != "1" {
		t.Skipf("needs a redis-server: run with %s=1 (redis-server must be on PATH)", Env)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: %s=1 but no redis-server: %v", Env, err)
	}
	s := &Server{t: t, port: freePort(t), dir: t.TempDir()}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// freePort returns a loopback port nobody listens on now: redis-server
// has no "--port 0".
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts the server again after Stop, with an empty data set, and
// waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatalf("redistest: server on %s already running", s.Addr)
	}
	cmd := exec.Command("redis-server",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	// Its output goes to a file, shown only when it fails to start.
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			s.cmd = nil
			out, _ := os.ReadFile(logf.Name())
			s.t.Fatalf("redistest: redis-server on %s exited at start (%v):\n%s", s.Addr, cmd.ProcessState, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: redis-server on %s never answered PING: %v", s.Addr, err)
		}
	}
}

// Stop ends the server (its data is lost: nothing is saved) and waits for
// it to exit. It does nothing when the server is not running.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Client returns a client of the server with short timeouts, closed at
// the test's cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.Options())
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Options returns client options for the server with short timeouts, so
// that a test of a stopped server fails fast.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Addr:         s.Addr,
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		MaxRetries:   -1,
	}
}
