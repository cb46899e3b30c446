package ban_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/detect"
)

// The storm child's environment: the state file, and the first source it
// bans.
const (
	stormPath = "SIPBAN_STORM_PATH"
	stormFrom = "SIPBAN_STORM_FROM"
)

// stormSource is the i-th source of the storm: one scanner datagram each.
func stormSource(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestBanStormSIGKILL runs a Guard with its state in a bbolt file through
// a ban storm, and kills its process with SIGKILL at a random moment, 100
// times over: every ban acknowledged (made before a Flush that returned)
// is in the file after the kill, the file always opens, and the next run
// restores it.
func TestBanStormSIGKILL(t *testing.T) {
	if path := os.Getenv(stormPath); path != "" {
		from, err := strconv.Atoi(os.Getenv(stormFrom))
		if err != nil {
			t.Fatal(err)
		}
		storm(path, from)
		return
	}
	if testing.Short() {
		t.Skip("kills 100 processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	var acked [][2]int // the sources each run acknowledged, from and to
	total, next, restored := 0, 0, 0
	const kills = 100
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBanStormSIGKILL$")
		cmd.Env = append(os.Environ(), stormPath+"="+path, stormFrom+"="+strconv.Itoa(next))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		// Killed at a random moment once the storm began.
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "restored ") {
			t.Fatalf("kill %d: the child did not start: %q", k, lines.Text())
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(lines.Text(), "restored "))
		if n < total {
			t.Fatalf("kill %d: restored %d records, %d were acknowledged", k, n, total)
		}
		restored = n
		run := [2]int{next, next}
		timer := time.AfterFunc(time.Duration(rand.IntN(40_000))*time.Microsecond, func() { _ = cmd.Process.Kill() })
		for lines.Scan() {
			if v, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
				run[1], _ = strconv.Atoi(v)
			}
		}
		timer.Stop()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		acked = append(acked, run)
		total += run[1] - run[0]
		next = run[1] + 1000 // past whatever the child made unacknowledged
		st, err := banbolt.Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: the state file does not open: %v", k, err)
		}
		have := map[detect.Subject]bool{}
		err = st.Load(context.Background(), func(c ban.Change) error {
			if c.Op == ban.OpRecord {
				have[c.Record.Subject] = true
			}
			return nil
		})
		st.Close()
		if err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		missing := 0
		for _, r := range acked {
			for i := r[0]; i < r[1]; i++ {
				if !have[detect.SubjectOf(stormSource(i))] {
					missing++
				}
			}
		}
		if missing > 0 {
			t.Fatalf("kill %d: %d acknowledged bans lost", k, missing)
		}
	}
	if total == 0 {
		t.Fatal("no ban was ever acknowledged")
	}
	t.Logf("%d kills, %d bans acknowledged, none lost; %d records restored by the last run", kills, total, restored)
}

// storm is the child: it restores the Guard from path, then bans one
// source after another from from on, acknowledging with a Flush every 50.
func storm(path string, from int) {
	st, err := banbolt.Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	g, err := ban.New(ban.Options{Store: st, Logger: quiet, Policy: ban.Policy{BanTime: map[detect.Cause]time.Duration{detect.Scanner: 72 * time.Hour}}})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	ctx := context.Background()
	n, err := g.Restore(ctx)
	if err != nil {
		fmt.Println("restore:", err)
		os.Exit(1)
	}
	fmt.Println("restored", n)
	for i := from; ; i++ {
		ev := detect.Event{Source: netip.AddrPortFrom(stormSource(i), 5060), Method: "OPTIONS", UserAgent: "friendly-scanner"}
		if err := g.Observe(ctx, &ev); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		if (i+1)%50 == 0 {
			if err := g.Flush(ctx); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			fmt.Println("acked", i+1)
		}
	}
}
