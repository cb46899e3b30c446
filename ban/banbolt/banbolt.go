package banbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sipban/sipban/ban"
)

// Version is the file format this package writes, kept in the meta bucket.
const Version = 1

// magic marks a file as a sipban store, in the meta bucket.
const magic = "sipban store"

var (
	bucketMeta     = []byte("meta")
	bucketRecords  = []byte("records")
	bucketOffences = []byte("offences")
	bucketDevices  = []byte("devices")
	bucketLifts    = []byte("lifts")
	// bucketFailures is keyed by a sequence, so that they load in the
	// order written. Files made before it have none until a failure comes.
	bucketFailures = []byte("failures")
	keyMagic       = []byte("magic")
	keyVersion     = []byte("version")
)

// Errors Open, Load and Write wrap, for callers to tell with errors.Is.
var (
	// ErrForeign: the file is not one this package wrote (not a bbolt file,
	// or a bbolt file without our meta bucket).
	ErrForeign = errors.New("banbolt: not a sipban store")
	// ErrVersion: the file was written by a newer format version.
	ErrVersion = errors.New("banbolt: newer format version")
	// ErrCorrupt: the file is ours but cannot be read (truncated, a bad
	// checksum, a value that does not decode).
	ErrCorrupt = errors.New("banbolt: corrupt store")
	// ErrLocked: another process has the file open.
	ErrLocked = errors.New("banbolt: store in use by another process")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("banbolt: store closed")
)

// Options tune Open. A nil *Options means the defaults.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file. Zero means one second.
	Timeout time.Duration
	// Mode is the permission a new file is made with. Zero means 0600.
	Mode os.FileMode
}

// Store is a ban.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	path string
	db   *bolt.DB
}

var _ ban.Store = (*Store)(nil)

// Open opens the store at path, making an empty one if there is no file.
// A file that is not a store of this package's format, or of a newer
// version, is refused, never replaced.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	switch fi, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist):
		if err := create(path, o); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("banbolt: open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("banbolt: open %s: %w: not a regular file", path, ErrForeign)
	case fi.Size() == 0:
		// bbolt would take an empty file for a new database.
		return nil, fmt.Errorf("banbolt: open %s: %w: empty file", path, ErrForeign)
	}
	// Checked read-only first: bbolt may write to a file it opens for
	// writing, and a refused file is left as it was.
	ro, err := openBolt(path, o, true)
	if err != nil {
		return nil, err
	}
	err = check(ro)
	if cerr := ro.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("banbolt: open %s: %w", path, err)
	}
	db, err := openBolt(path, o, false)
	if err != nil {
		return nil, err
	}
	return &Store{path: path, db: db}, nil
}

func openBolt(path string, o Options, readOnly bool) (db *bolt.DB, err error) {
	// A panic inside bolt.Open leaves its file open: keep it to close.
	var f *os.File
	bo := &bolt.Options{Timeout: o.Timeout, ReadOnly: readOnly, OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, mode)
		return f, err
	}}
	err = safe(func() error {
		db, err = bolt.Open(path, o.Mode, bo)
		return err
	})
	if err != nil && f != nil {
		_ = f.Close() // closed already unless bbolt panicked
	}
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		err = fmt.Errorf("%w (waited %v)", ErrLocked, o.Timeout)
	case errors.Is(err, berrors.ErrInvalid):
		err = fmt.Errorf("%w: not a bbolt file", ErrForeign)
	case errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	case !errors.Is(err, ErrCorrupt) && !errors.Is(err, os.ErrPermission) && !errors.Is(err, os.ErrNotExist):
		// bbolt says "file size too small" and the like without a sentinel.
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil, fmt.Errorf("banbolt: open %s: %w", path, err)
}

// create makes a new store beside path and links it into place, so that
// a file at path always has its meta bucket, even after a crash during
// create; and a file another process made meanwhile is not replaced.
func create(path string, o Options) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after the link, or on failure
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	if err := os.Chmod(name, o.Mode); err != nil {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	db, err := bolt.Open(name, o.Mode, &bolt.Options{Timeout: o.Timeout})
	if err != nil {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyMagic, []byte(magic)); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.AppendUvarint(nil, Version)); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketRecords, bucketOffences, bucketDevices, bucketLifts, bucketFailures} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	if err := os.Link(name, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("banbolt: create %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("banbolt: sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("banbolt: sync %s: %w", dir, err)
	}
	return nil
}

// check refuses a bbolt file that is not ours, is newer, or is shorter
// than its own meta page says (truncated: reading it would fault).
func check(db *bolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return safe(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if tx.Size() > fi.Size() {
				return fmt.Errorf("%w: truncated: %d bytes, %d expected", ErrCorrupt, fi.Size(), tx.Size())
			}
			meta := tx.Bucket(bucketMeta)
			if meta == nil || !bytes.Equal(meta.Get(keyMagic), []byte(magic)) {
				return fmt.Errorf("%w: a bbolt file without sipban's meta", ErrForeign)
			}
			v, n := binary.Uvarint(meta.Get(keyVersion))
			switch {
			case n <= 0 || v == 0:
				return fmt.Errorf("%w: unreadable format version", ErrCorrupt)
			case v > Version:
				return fmt.Errorf("%w: format %d, this package reads up to %d", ErrVersion, v, Version)
			}
			for _, b := range [][]byte{bucketRecords, bucketOffences, bucketDevices, bucketLifts} {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("%w: no %s bucket", ErrCorrupt, b)
				}
			}
			return nil
		})
	})
}

// safe runs fn, turning a panic or a memory fault (a page bbolt cannot
// read) into ErrCorrupt: bbolt trusts its pages.
func safe(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	return fn()
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Close closes the file, waiting for Loads and Writes under way. Closing
// twice is safe.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("banbolt: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) wrap(what string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return fmt.Errorf("banbolt: %s %s: %w", what, s.path, err)
}

// Load calls fn with each record, offence, device, lift and failure kept:
// records first, then offences, devices, lifts and failures, each in key
// order, which for failures is the order written. It reads in
// one transaction; fn must not wait for a Write on the same Store, which
// may wait for that transaction to end when the file grows.
func (s *Store) Load(ctx context.Context, fn func(ban.Change) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := safe(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			for _, l := range loaders {
				b := tx.Bucket(l.bucket)
				if b == nil {
					continue // failures, in a file older than them
				}
				c := b.Cursor()
				var ch ban.Change
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if err := ctx.Err(); err != nil {
						fnErr = err
						return err
					}
					key, val, err := unstore(k, v)
					if err == nil {
						ch, err = l.decode(key, val)
					}
					if err != nil {
						return fmt.Errorf("%w: %s %x: %w", ErrCorrupt, l.bucket, k, err)
					}
					if err := fn(ch); err != nil {
						fnErr = err
						return err
					}
				}
			}
			return nil
		})
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr // as fn or ctx gave it
	}
	return s.wrap("load", err)
}

// loaders decode each bucket's entries into the Change that replays them.
var loaders = []struct {
	bucket []byte
	decode func(k, v string) (ban.Change, error)
}{
	{bucketRecords, func(k, v string) (ban.Change, error) {
		r, err := decodeRecord(k, v)
		return ban.Change{Op: ban.OpRecord, Record: r}, err
	}},
	{bucketOffences, func(k, v string) (ban.Change, error) {
		o, err := decodeOffence(k, v)
		return ban.Change{Op: ban.OpEnd, Offence: o}, err
	}},
	{bucketDevices, func(k, v string) (ban.Change, error) {
		d, err := decodeDevice(k, v)
		return ban.Change{Op: ban.OpDevice, Device: d}, err
	}},
	{bucketLifts, func(k, v string) (ban.Change, error) {
		l, err := decodeLift(k, v)
		return ban.Change{Op: ban.OpLift, Lift: l}, err
	}},
	{bucketFailures, func(k, v string) (ban.Change, error) {
		f, err := decodeFailure(k, v)
		return ban.Change{Op: ban.OpFailure, Failure: f}, err
	}},
}

// Write applies batch in one bbolt transaction, which is on disk (fsynced)
// when Write returns nil. A change on an invalid subject or with an
// unknown Op fails the whole batch.
func (s *Store) Write(ctx context.Context, batch []ban.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := safe(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			w := writer{
				tx:       tx,
				records:  tx.Bucket(bucketRecords),
				offences: tx.Bucket(bucketOffences),
				devices:  tx.Bucket(bucketDevices),
				lifts:    tx.Bucket(bucketLifts),
				failures: tx.Bucket(bucketFailures),
			}
			for i := range batch {
				if err := w.apply(&batch[i]); err != nil {
					return fmt.Errorf("change %d (%v): %w", i, batch[i].Op, err)
				}
			}
			// A batch may take long: a cancelled one is not committed.
			return ctx.Err()
		})
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return ctxErr
		}
		return s.wrap("write", err)
	}
	return nil
}

// writer applies changes inside one transaction.
type writer struct {
	tx                                          *bolt.Tx
	records, offences, devices, lifts, failures *bolt.Bucket // failures nil until a file has one
}

func (w *writer) apply(c *ban.Change) error {
	switch c.Op {
	case ban.OpRecord:
		k, err := subjectKey(c.Record.Subject)
		if err != nil {
			return err
		}
		return put(w.records, k, encodeRecord(&c.Record))
	case ban.OpEnd:
		k, err := subjectKey(c.Offence.Subject)
		if err != nil {
			return err
		}
		if err := w.records.Delete(storedKey(k)); err != nil {
			return err
		}
		return put(w.offences, k, encodeOffence(&c.Offence))
	case ban.OpDevice:
		return put(w.devices, deviceKey(&c.Device), encodeDevice(&c.Device))
	case ban.OpLift:
		k, err := liftKey(&c.Lift)
		if err != nil {
			return err
		}
		return put(w.lifts, k, encodeLift(&c.Lift))
	case ban.OpFailure:
		val, err := encodeFailure(&c.Failure)
		if err != nil {
			return err
		}
		if w.failures == nil {
			if w.failures, err = w.tx.CreateBucket(bucketFailures); err != nil {
				return err
			}
		}
		seq, err := w.failures.NextSequence()
		if err != nil {
			return err
		}
		return put(w.failures, binary.BigEndian.AppendUint64(nil, seq), val)
	case ban.OpAge:
		for _, a := range []struct {
			b      *bolt.Bucket
			before time.Time
		}{{w.offences, c.Age.Offences}, {w.devices, c.Age.Devices}, {w.lifts, c.Age.Lifts}, {w.failures, c.Age.Failures}} {
			if err := forget(a.b, a.before); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown op %d", c.Op)
}

func put(b *bolt.Bucket, key, val []byte) error {
	return b.Put(storedKey(key), storedValue(key, val))
}

// forget deletes b's entries whose value starts with a time before before.
// Keys are collected first: deleting under a bbolt cursor skips entries.
func forget(b *bolt.Bucket, before time.Time) error {
	if before.IsZero() || b == nil {
		return nil
	}
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		t, err := leadingTime(k, v)
		if err != nil {
			return fmt.Errorf("%w: %x: %w", ErrCorrupt, k, err)
		}
		if t.Before(before) {
			old = append(old, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
