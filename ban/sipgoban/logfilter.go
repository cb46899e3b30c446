package sipgoban

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// sipgo v1.7.2 logs each message it cannot parse (UDP, TCP and WebSocket
// transports alike) at Error level with this text, the error as "error" and
// the whole message or stream chunk as "data".
const (
	parseFailedMsg  = "failed to parse"
	parseFailedData = "data"
	parseFailedErr  = "error"
)

// sipgo v1.7.2 logs a read filter's error at Error level with this text
// before it closes the connection; ErrBanned there is a ban at work.
const readFilterMsg = "Read filter error"

// maxErrorBytes bounds the error LogHandler writes: sipgo's errors may
// quote a whole line of the message.
const maxErrorBytes = 120

// LogOptions configure a LogHandler. The zero value is ready to use.
type LogOptions struct {
	// Every is the least time between two lines about messages sipgo
	// could not parse; zero means a minute.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LogHandler is a slog.Handler for sipgo's transport layer logger that
// bounds what sipgo writes about messages it cannot parse. sipgo logs each
// one with the whole message in it, so that a flood of junk becomes as many
// bytes of log. LogHandler turns those records into at most one per Every:
// "sipgo failed to parse messages" with "count", how many since the last
// such record (this one included), and "error", the last error cut short;
// never the message. The records in between are only counted: their count
// is written with the first parse error after Every has passed. It drops
// sipgo's "Read filter error" records of ErrBanned, one per connection
// ReadFilter cuts: a ban at work, not an error. It passes every other
// record to the next handler unchanged. Install it with
// sip.WithTransportLayerLogger.
//
// A LogHandler is safe for concurrent use; the handlers WithAttrs and
// WithGroup derive from it share its count.
type LogHandler struct {
	next slog.Handler
	lim  *parseLimiter
}

var _ slog.Handler = (*LogHandler)(nil)

// parseLimiter is the state a LogHandler and its derived handlers share.
type parseLimiter struct {
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	last    time.Time // when the last record was written; zero: never
	pending int       // parse errors since then, not written
}

// NewLogHandler returns a LogHandler writing to next. A nil opts means the
// zero LogOptions.
func NewLogHandler(next slog.Handler, opts *LogOptions) *LogHandler {
	lim := &parseLimiter{every: time.Minute, now: time.Now}
	if opts != nil {
		if opts.Every > 0 {
			lim.every = opts.Every
		}
		if opts.Now != nil {
			lim.now = opts.Now
		}
	}
	return &LogHandler{next: next, lim: lim}
}

// Enabled reports whether the next handler handles level.
func (h *LogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r to the next handler, unless r is sipgo's record of a
// message it could not parse: that one is counted, and written without the
// message at most once per Every.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == readFilterMsg && bannedErr(r) {
		return nil
	}
	if r.Message != parseFailedMsg {
		return h.next.Handle(ctx, r)
	}
	var data bool
	var why slog.Value
	var others []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case parseFailedData:
			data = true
		case parseFailedErr:
			why = a.Value
		default:
			others = append(others, a)
		}
		return true
	})
	if !data {
		return h.next.Handle(ctx, r)
	}
	n, ok := h.lim.take()
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, "sipgo failed to parse messages", r.PC)
	out.AddAttrs(others...)
	out.AddAttrs(slog.Int("count", n), slog.String(parseFailedErr, cut(why.String(), maxErrorBytes)))
	return h.next.Handle(ctx, out)
}

// bannedErr reports whether r's error is ErrBanned.
func bannedErr(r slog.Record) bool {
	banned := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != parseFailedErr {
			return true
		}
		err, ok := a.Value.Any().(error)
		banned = ok && errors.Is(err, ErrBanned)
		return false
	})
	return banned
}

// WithAttrs returns a LogHandler over the next handler's WithAttrs(attrs),
// sharing h's count.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{next: h.next.WithAttrs(attrs), lim: h.lim}
}

// WithGroup returns a LogHandler over the next handler's WithGroup(name),
// sharing h's count.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name), lim: h.lim}
}

// take counts one parse error and reports whether to write a record now,
// with how many it stands for.
func (l *parseLimiter) take() (int, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending++
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return 0, false
	}
	n := l.pending
	l.last, l.pending = now, 0
	return n, true
}

// cut returns s cut to at most n bytes, whole runes only.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
