package watch

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A host with more addresses than a socket filter can test is refused with
// an error that says so, rather than captured without the test.
func TestSpoofFilterBound(t *testing.T) {
	var local []netip.Addr
	a := netip.MustParseAddr("fd00::1")
	for range 400 {
		local = append(local, a)
		a = a.Next()
	}
	prog, err := spoofFilter(local)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(prog), maxFilter)
	for range 100 {
		local = append(local, a)
		a = a.Next()
	}
	_, err = spoofFilter(local)
	assert.ErrorContains(t, err, "500 local addresses are too many")
}
