package banredis_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
)

// Options are checked without a server.
func TestOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, tc := range []struct {
		name string
		opts banredis.CounterOptions
		ok   bool
	}{
		{"zero", banredis.CounterOptions{}, true},
		{"windows differ", banredis.CounterOptions{Limits: detect.Limits{BadCredentials: detect.Limit{Window: time.Hour}}}, false},
		{"window too short", banredis.CounterOptions{Limits: detect.Limits{BadCredentials: detect.Limit{Window: time.Millisecond}}}, false},
		{"negative interval", banredis.CounterOptions{Interval: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := banredis.NewCounter(c, tc.opts)
			if (err == nil) != tc.ok {
				t.Errorf("NewCounter: %v, want ok %v", err, tc.ok)
			}
		})
	}
	if _, err := banredis.NewCounter(nil, banredis.CounterOptions{}); err == nil {
		t.Error("NewCounter(nil) succeeded")
	}
	if _, err := banredis.New(nil, banredis.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := banredis.New(c, banredis.Options{Ping: -1}); err == nil {
		t.Error("New with a negative Ping succeeded")
	}
	f, err := banredis.New(c, banredis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Edge() == "" {
		t.Error("New with zero Options: no edge name")
	}
}
