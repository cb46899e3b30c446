// Command registrar runs a digest-authenticating SIP registrar protected by
// sipban, with a JSON API to list and lift bans.
//
//	go run ./examples/registrar -listen 127.0.0.1:5060 -users users.txt -admin 127.0.0.1:8080
//
// Attack it with sipp or ban/bantest, then see the bans:
//
//	curl -s 127.0.0.1:8080/bans
//	curl -s -X DELETE 127.0.0.1:8080/bans/127.0.0.2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/registrar"
)

// demoUsers are the accounts served when -users is not given.
const demoUsers = `alice:alice-secret
bob:bob-secret
carol:carol-secret
!olduser
`

func main() {
	listen := flag.String("listen", registrar.DefaultListen, "UDP `address` to serve SIP on")
	users := flag.String("users", "", "accounts `file`: \"name:password\" per line; \"!name\" marks a deleted account; '#' comments\n(default: a built-in demo set, printed at start)")
	realm := flag.String("realm", registrar.DefaultRealm, "digest `realm`")
	admin := flag.String("admin", "127.0.0.1:8080", "HTTP `address` of the JSON API; empty disables")
	enforcer := flag.String("enforcer", "memory", "`name` of the enforcer: memory; later issues add nftables and iptables")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "registrar: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *listen, *users, *realm, *admin, *enforcer); err != nil {
		log.Error("registrar: stopped", "error", err)
		os.Exit(1)
	}
}

// run serves SIP, the JSON API and the Guard until a signal or the first
// failure, which it returns.
func run(log *slog.Logger, listen, users, realm, admin, enforcer string) error {
	if enforcer != "memory" {
		return fmt.Errorf("-enforcer %q: only \"memory\" is available", enforcer)
	}
	accounts, err := loadUsers(users)
	if err != nil {
		return fmt.Errorf("-users: %w", err)
	}
	g, err := ban.New(ban.Options{Logger: log})
	if err != nil {
		return err
	}
	srv, err := registrar.New(registrar.Config{Listen: listen, Accounts: accounts, Realm: realm, Guard: g, Logger: log})
	if err != nil {
		return err
	}

	var ln net.Listener
	if admin != "" {
		if ln, err = net.Listen("tcp", admin); err != nil {
			return fmt.Errorf("-admin %s: %w", admin, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Each part runs until ctx is done; the first to end stops the others.
	done := make(chan error, 3)
	parts := 2
	go func() { done <- g.Run(ctx) }()
	go func() { done <- srv.ListenAndServe(ctx) }()
	if ln != nil {
		parts++
		hs := &http.Server{Handler: registrar.AdminHandler(g), ReadHeaderTimeout: 5 * time.Second}
		log.Info("registrar: serving the JSON API", "http", ln.Addr().String())
		go func() {
			err := hs.Serve(ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			done <- err
		}()
		context.AfterFunc(ctx, func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
		})
	}
	var first error
	for range parts {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
		cancel()
	}
	if first == nil {
		log.Info("registrar: shut down")
	}
	return first
}

// loadUsers reads the accounts file, or returns the demo set after
// printing it, so that whoever runs the demo knows the passwords.
func loadUsers(name string) (registrar.Accounts, error) {
	if name == "" {
		a, err := registrar.ParseUsers(strings.NewReader(demoUsers))
		if err != nil {
			return a, err
		}
		fmt.Println("registrar: no -users file; serving the demo accounts:")
		_, err = a.WriteTo(os.Stdout)
		return a, err
	}
	f, err := os.Open(name)
	if err != nil {
		return registrar.Accounts{}, err
	}
	defer f.Close()
	return registrar.ParseUsers(f)
}
