package enforce_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/enforce"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestMemory(t *testing.T) {
	now := t0
	m := enforce.NewMemory(func() time.Time { return now })
	ctx := context.Background()
	p := netip.MustParsePrefix
	a := netip.MustParseAddr

	require.NoError(t, m.Ban(ctx, p("192.0.2.7/32"), t0.Add(time.Hour)))
	require.NoError(t, m.Ban(ctx, p("198.51.100.0/24"), t0.Add(time.Hour)))
	require.NoError(t, m.Ban(ctx, p("2001:db8:1:2::/64"), t0.Add(2*time.Hour)))
	require.NoError(t, m.Ban(ctx, p("2001:db8::99/128"), t0.Add(time.Hour)))
	require.NoError(t, m.Ban(ctx, p("203.0.113.77/20"), t0.Add(time.Hour)), "masked on the way in")

	for addr, want := range map[string]bool{
		"192.0.2.7":            true,
		"192.0.2.8":            false,
		"::ffff:192.0.2.7":     true,
		"198.51.100.200":       true,
		"198.51.101.1":         false,
		"2001:db8:1:2:aaaa::1": true,
		"2001:db8:1:3::1":      false,
		"2001:db8::99":         true,
		"2001:db8::98":         false,
		"203.0.112.1":          true,
		"203.0.127.255":        true,
		"203.0.128.0":          false,
	} {
		assert.Equal(t, want, m.Blocked(a(addr)), addr)
	}
	assert.False(t, m.Blocked(netip.Addr{}))
	assert.Equal(t, 5, m.Len())

	// Idempotent: banning again moves the expiry, adds nothing.
	require.NoError(t, m.Ban(ctx, p("192.0.2.7/32"), t0.Add(3*time.Hour)))
	assert.Equal(t, 5, m.Len())

	now = t0.Add(90 * time.Minute)
	assert.True(t, m.Blocked(a("192.0.2.7")), "expiry was extended")
	assert.False(t, m.Blocked(a("198.51.100.1")), "expired")
	assert.True(t, m.Blocked(a("2001:db8:1:2::1")))
	assert.True(t, m.BlockedAt(a("198.51.100.1"), t0))
	assert.True(t, m.Contains(a("198.51.100.1")), "Contains ignores expiry")

	require.NoError(t, m.Unban(ctx, p("192.0.2.7/32")))
	require.NoError(t, m.Unban(ctx, p("192.0.2.7/32")), "lifting twice is not an error")
	require.NoError(t, m.Unban(ctx, p("10.0.0.0/8")), "lifting what was never banned is not an error")
	assert.False(t, m.Blocked(a("192.0.2.7")))
	assert.False(t, m.Contains(a("192.0.2.7")))
	assert.Equal(t, 4, m.Len())

	for _, bad := range []netip.Prefix{{}, p("::ffff:1.2.3.4/128")} {
		assert.Error(t, m.Ban(ctx, bad, t0), "%v", bad)
		assert.Error(t, m.Unban(ctx, bad), "%v", bad)
	}
}

func TestMemoryOverlapping(t *testing.T) {
	m := enforce.NewMemory(func() time.Time { return t0 })
	ctx := context.Background()
	require.NoError(t, m.Ban(ctx, netip.MustParsePrefix("192.0.2.0/24"), t0.Add(time.Hour)))
	require.NoError(t, m.Ban(ctx, netip.MustParsePrefix("192.0.2.1/32"), t0.Add(-time.Hour)))
	assert.True(t, m.Blocked(netip.MustParseAddr("192.0.2.1")), "the wider, live ban still covers it")
	require.NoError(t, m.Unban(ctx, netip.MustParsePrefix("192.0.2.0/24")))
	assert.False(t, m.Blocked(netip.MustParseAddr("192.0.2.1")))
}

func TestMemoryConcurrent(t *testing.T) {
	m := enforce.NewMemory(nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)}), 32)
				if err := m.Ban(ctx, p, time.Now().Add(time.Hour)); err != nil {
					t.Error(err)
				}
				if !m.Blocked(p.Addr()) {
					t.Errorf("%v not blocked", p)
				}
				if i%2 == 0 {
					if err := m.Unban(ctx, p); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 2000, m.Len())
}

// BenchmarkMemoryBlocked is the read filter's question with 100,000 bans:
// a banned source, a clean one, and a source inside a banned IPv6 /64.
// Blocked reads the clock to honour expiry; Contains, which a Guard uses
// because it lifts bans itself, does not.
func BenchmarkMemoryBlocked(b *testing.B) {
	m := enforce.NewMemory(nil)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	for i := range 100_000 {
		if err := m.Ban(ctx, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32), until); err != nil {
			b.Fatal(err)
		}
	}
	if err := m.Ban(ctx, netip.MustParsePrefix("2001:db8:1:2::/64"), until); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		addr netip.Addr
		want bool
	}{
		{"banned", netip.MustParseAddr("10.0.200.17"), true},
		{"clean", netip.MustParseAddr("192.0.2.1"), false},
		{"banned-v6-prefix", netip.MustParseAddr("2001:db8:1:2::abcd"), true},
	} {
		b.Run("Blocked/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m.Blocked(bc.addr) != bc.want {
					b.Fatal("wrong answer")
				}
			}
		})
		b.Run("Contains/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m.Contains(bc.addr) != bc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
