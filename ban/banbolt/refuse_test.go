package banbolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
)

// filled makes a store holding n records and returns its path, closed.
func filled(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bans.db")
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), records(0, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// records are n realistic records on distinct IPv4 addresses from i.
func records(i, n int) []ban.Change {
	cs := make([]ban.Change, n)
	for j := range cs {
		cs[j] = ban.Change{Op: ban.OpRecord, Record: banbolt.Realistic(i + j)}
	}
	return cs
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want error
	}{
		{"empty file", func(t *testing.T) string { return write(t, nil) }, banbolt.ErrForeign},
		{"short text", func(t *testing.T) string { return write(t, []byte("bans: none\n")) }, banbolt.ErrForeign},
		{"text", func(t *testing.T) string {
			return write(t, bytes.Repeat([]byte("203.0.113.7 banned until tomorrow\n"), 1000))
		}, banbolt.ErrForeign},
		{"directory", func(t *testing.T) string { return t.TempDir() }, banbolt.ErrForeign},
		{"truncated", func(t *testing.T) string {
			path := filled(t, 5000)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return path
		}, banbolt.ErrCorrupt},
		{"meta pages overwritten", func(t *testing.T) string {
			path := filled(t, 10)
			// The root bucket's page id in both meta pages: the magic
			// stays, the checksums fail.
			overwrite(t, path, 16+16, 8)
			overwrite(t, path, 4096+16+16, 8)
			return path
		}, banbolt.ErrCorrupt},
		{"data pages overwritten", func(t *testing.T) string {
			path := filled(t, 5000)
			fi, _ := os.Stat(path)
			overwrite(t, path, 2*4096, int(fi.Size())-2*4096)
			return path
		}, banbolt.ErrCorrupt},
		{"someone else's bbolt", func(t *testing.T) string {
			return foreign(t, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("users"))
				if err != nil {
					return err
				}
				return b.Put([]byte("alice"), []byte("secret"))
			})
		}, banbolt.ErrForeign},
		{"empty bbolt", func(t *testing.T) string {
			return foreign(t, func(*bolt.Tx) error { return nil })
		}, banbolt.ErrForeign},
		{"meta of another program", func(t *testing.T) string {
			return foreign(t, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("magic"), []byte("another store"))
			})
		}, banbolt.ErrForeign},
		{"newer version", func(t *testing.T) string {
			path := filled(t, 10)
			edit(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("version"), binary.AppendUvarint(nil, banbolt.Version+1))
			})
			return path
		}, banbolt.ErrVersion},
		{"no records bucket", func(t *testing.T) string {
			path := filled(t, 10)
			edit(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("records")) })
			return path
		}, banbolt.ErrCorrupt},
		{"undecodable record", func(t *testing.T) string {
			path := filled(t, 10)
			edit(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("records")).Put([]byte{0, 4, 10, 0, 0, 1, 32}, []byte{1, 2, 3})
			})
			return path
		}, banbolt.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			before := contents(t, path)
			err := openLoad(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open and Load = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if !bytes.Equal(contents(t, path), before) {
				t.Error("a refused file was changed")
			}
			if locked(t, path) {
				t.Error("a refused file is still locked")
			}
			t.Log(err)
		})
	}
}

// openLoad opens path and loads it: some damage shows only when read.
func openLoad(path string) error {
	s, err := banbolt.Open(path, &banbolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Load(context.Background(), func(ban.Change) error { return nil })
}

func write(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bans.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func overwrite(t *testing.T, path string, off, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), int64(off)); err != nil {
		t.Fatal(err)
	}
}

func foreign(t *testing.T, fn func(*bolt.Tx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bans.db")
	edit(t, path, fn)
	return path
}

func edit(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func contents(t *testing.T, path string) []byte {
	t.Helper()
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// locked reports whether path is flocked, as bbolt locks it.
func locked(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatal(err)
	}
	return err != nil
}

func TestLocked(t *testing.T) {
	path := filled(t, 1)
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file, so a second Open in this process
	// waits as another process's would.
	_, err = banbolt.Open(path, &banbolt.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, banbolt.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, path)
	}
	if err := s.Write(context.Background(), records(1, 1)); err != nil {
		t.Errorf("Write by the holder after a refused Open: %v", err)
	}
}

func TestInvalidChangeFailsBatch(t *testing.T) {
	path := filled(t, 0)
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, bad := range []ban.Change{
		{Op: ban.OpRecord},
		{Op: ban.OpEnd},
		{Op: ban.OpLift},
		{Op: 99},
	} {
		if err := s.Write(context.Background(), append(records(0, 2), bad)); err == nil {
			t.Errorf("Write with %+v returned nil", bad.Op)
		}
	}
	n := 0
	if err := s.Load(context.Background(), func(ban.Change) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d changes of failed batches kept, want none", n)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := banbolt.Open(filled(t, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err = s.Load(context.Background(), func(ban.Change) error { return nil })
	if !errors.Is(err, banbolt.ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if err := s.Write(context.Background(), records(0, 1)); !errors.Is(err, banbolt.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

// A file made before failures were kept has no bucket for them: it opens
// and loads as it was, and takes failures, in order, once they come.
func TestFileWithoutFailures(t *testing.T) {
	path := filled(t, 3)
	edit(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("failures")) })
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() (records, failures []ban.Change) {
		t.Helper()
		err := s.Load(context.Background(), func(c ban.Change) error {
			if c.Op == ban.OpFailure {
				failures = append(failures, c)
			} else {
				records = append(records, c)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return records, failures
	}
	if r, f := count(); len(r) != 3 || len(f) != 0 {
		t.Fatalf("loaded %d records and %d failures, want 3 and 0", len(r), len(f))
	}
	age := ban.Change{Op: ban.OpAge, Age: ban.Age{Failures: time.Now()}}
	if err := s.Write(context.Background(), []ban.Change{age}); err != nil {
		t.Fatalf("aging failures there are none of: %v", err)
	}
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var fs []ban.Change
	for i := range 3 {
		fs = append(fs, ban.Change{Op: ban.OpFailure, Failure: ban.Failure{At: at.Add(-time.Duration(i) * time.Minute),
			Source: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(5060+i)), Status: 403, Credentials: true}})
	}
	if err := s.Write(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	_, got := count()
	if len(got) != 3 {
		t.Fatalf("loaded %d failures, want 3", len(got))
	}
	for i, c := range got {
		if p := c.Failure.Source.Port(); p != uint16(5060+i) {
			t.Errorf("failure %d is from port %d: not in the order written", i, p)
		}
	}
}
