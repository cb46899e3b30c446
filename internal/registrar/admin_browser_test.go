package registrar_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/registrar"
)

// chromium is Debian's, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// TestBrowserUnblock is the self-service page as a customer uses it, in
// chromium: at an office where a desk phone registers as alice, a
// softphone mistypes carol's password 5 times over UDP and is blocked
// alone. Logged in to the portal as carol, the customer opens the block,
// sees the cause and the softphone marked as the suspect (alice's desk
// phone left out: one device not hers), picks the cause fixed and clicks
// unblock; the softphone's next REGISTER with the right password is
// answered 200. Once in English, once in German asked for by
// Accept-Language. Set SIPBAN_BROWSER=1 to run it;
// then a missing chromium fails it.
func TestBrowserUnblock(t *testing.T) {
	if os.Getenv("SIPBAN_BROWSER") != "1" {
		t.Skip("set SIPBAN_BROWSER=1 to drive chromium")
	}
	_, err := os.Stat(chromium)
	require.NoError(t, err, "SIPBAN_BROWSER=1 needs Debian's chromium: apt-get install chromium")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	require.NoError(t, chromedp.Do(browser), "starting chromium")

	for _, tt := range []struct {
		lang, office                      string
		cause, suspect, button, unblocked string
	}{
		{"en", "127.0.9.1", "Mistyped password or account name", "Suspect: fix this device", "Unblock", "is unblocked"},
		{"de", "127.0.9.2", "Falsch eingegebenes Passwort oder falscher Kontoname", "Verdächtig: dieses Gerät korrigieren", "Entsperren", "ist entsperrt"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			tb := start(t)
			portal, err := registrar.PortalHandler(tb.g, tb.srv.Directory())
			require.NoError(t, err)
			web := httptest.NewServer(portal)
			t.Cleanup(web.Close)

			desk := tb.phone(t, tt.office+":0", "alice")
			d := bantest.Dialer{Timeout: silence, UserAgent: "Zoiper rv2.10.19.2"}
			soft, err := d.Dial(ctx, tt.office+":0", tb.addr)
			require.NoError(t, err)
			t.Cleanup(func() { soft.Close() })
			res, err := bantest.GuessPasswords(ctx, soft, "carol", 5)
			require.NoError(t, err)
			require.Equal(t, map[int]int{403: 5}, res.Statuses, "%v", res)
			addr := soft.LocalAddr().Addr()
			tb.settle(t, addr, 2+10)
			subject := detect.Subject{Prefix: netip.PrefixFrom(addr, 32), Account: "carol"}
			rec, ok := tb.g.Record(subject)
			require.True(t, ok, "no block; records: %+v", tb.g.Bans())
			require.Equal(t, ban.ScopeAccount, rec.Scope)
			st, err := soft.Register(ctx, "carol", password("carol"))
			require.NoError(t, err)
			require.Equal(t, 403, st, "blocked: refused even with the right password")

			tab, closeTab := chromedp.NewContext(browser)
			defer closeTab()
			headers := network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("carol:"+password("carol")))}
			if tt.lang == "de" {
				headers["Accept-Language"] = "de-DE,de;q=0.9,en;q=0.5"
			}
			_, err = chromedp.Call(tab, network.Enable, network.EnableParams{})
			require.NoError(t, err)
			_, err = chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers})
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(tab,
				chromedp.Navigate(web.URL+"/ui/bans/"+url.PathEscape(subject.String())),
				chromedp.WaitVisible(chromedp.CSS("#devices")),
			))
			softRow := chromedp.CSS(fmt.Sprintf(`tr[data-port="%d"]`, soft.LocalAddr().Port()))
			assert.Equal(t, tt.lang, inTab(t, tab, chromedp.AttributeValue(chromedp.CSS("html"), "lang")).Value)
			assert.Equal(t, ban.CauseTypo, inTab(t, tab, chromedp.AttributeValue(chromedp.CSS("#cause"), "data-cause")).Value)
			cause := inTab(t, tab, chromedp.Text(chromedp.CSS("#cause")))
			assert.Contains(t, cause, tt.cause)
			assert.Equal(t, chromedp.AttributeResult{Value: "true", Exists: true}, inTab(t, tab, chromedp.AttributeValue(softRow, "data-suspect")))
			softText := inTab(t, tab, chromedp.Text(softRow))
			assert.Contains(t, softText, tt.suspect)
			assert.Contains(t, softText, "Zoiper")
			assert.Contains(t, inTab(t, tab, chromedp.Text(chromedp.CSS("#hidden"))), ": 1,", "alice's desk phone")
			assert.Equal(t, tt.button, inTab(t, tab, chromedp.Text(chromedp.CSS("#unblock"))))

			require.NoError(t, chromedp.Do(tab,
				chromedp.SetValue(chromedp.CSS("#fixed"), ban.CauseTypo),
				chromedp.Click(chromedp.CSS("#unblock")),
				chromedp.WaitVisible(chromedp.CSS("#lifted")),
			))
			assert.Contains(t, inTab(t, tab, chromedp.Text(chromedp.CSS("#lifted"))), subject.String()+" "+tt.unblocked)
			_, ok = tb.g.Record(subject)
			require.False(t, ok, "still blocked")

			st, err = soft.Register(ctx, "carol", password("carol"))
			require.NoError(t, err)
			assert.Equal(t, 200, st, "the softphone, fixed, is answered again")
			desk.register(t)
			t.Logf("%s: %s; unblocked by carol in chromium; then REGISTER answered %d", tt.lang, cause, st)
		})
	}
}

// inTab runs a in the tab and returns its value, failing the test on an error.
func inTab[T any](t *testing.T, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	require.NoError(t, err)
	return v
}
