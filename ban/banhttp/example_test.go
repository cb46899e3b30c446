package banhttp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
)

// An operator and a customer, told apart by a token: the customer owns
// an office's prefix and does not see a scanner's ban elsewhere.
func ExampleNew() {
	g, _ := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler)})
	ev := detect.Event{Source: netip.MustParseAddrPort("192.0.2.1:5060"), Method: "OPTIONS", UserAgent: "friendly-scanner"}
	_ = g.Observe(context.Background(), &ev)

	office := banhttp.Scope{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/28")}, Accounts: []string{"alice"}}
	h, err := banhttp.New(g, banhttp.Options{Authorize: func(r *http.Request) (banhttp.Viewer, error) {
		switch r.Header.Get("Authorization") { // a real one looks the token up
		case "Bearer noc-secret":
			return banhttp.Operator("noc"), nil
		case "Bearer office-secret":
			return banhttp.Customer("office", office.Owns), nil
		}
		return banhttp.Viewer{}, errors.New("unknown token")
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, who := range []string{"noc", "office", "nobody"} {
		r := httptest.NewRequest("GET", "http://localhost/bans/192.0.2.1", nil)
		r.Header.Set("Authorization", "Bearer "+who+"-secret")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(who, w.Code)
	}
	// Output:
	// noc 200
	// office 404
	// nobody 401
}
