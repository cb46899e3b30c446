package banbolt_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
)

// The crash child's environment: the store's path, and the round whose
// batches it writes.
const (
	crashPath  = "BANBOLT_CRASH_PATH"
	crashRound = "BANBOLT_CRASH_ROUND"
)

const crashPer = 8 // changes per batch

// crashBatch is batch i of round r: records on crashPer subjects whose
// accounts name the round, the batch and the change.
func crashBatch(r, i int) []ban.Change {
	cs := records(r*1000+i, crashPer)
	for j := range cs {
		cs[j].Record.Subject.Account = fmt.Sprintf("r%d-b%d-c%d", r, i, j)
	}
	return cs
}

// TestCrash kills a writer with SIGKILL at random moments and checks that
// every batch it acknowledged is there, each batch whole or absent, and
// that the file always opens.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashPath); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("kills 100 child processes")
	}
	path := filepath.Join(t.TempDir(), "bans.db")
	acked := map[[2]int]bool{} // round, batch
	rounds, deadline := 0, time.Now().Add(40*time.Second)
	for ; rounds < 100 && time.Now().Before(deadline); rounds++ {
		for _, b := range crashRun(t, path, rounds) {
			acked[[2]int{rounds, b}] = true
		}
		crashCheck(t, path, acked)
		if t.Failed() {
			t.Fatalf("after round %d", rounds)
		}
	}
	if rounds < 100 {
		t.Errorf("%d rounds in the time allowed, want 100", rounds)
	}
	if len(acked) == 0 {
		t.Error("the child acknowledged no batch in any round")
	}
	t.Logf("%d rounds, %d batches acknowledged", rounds, len(acked))
}

// crashRun starts a child writing round r, kills it after a random delay
// and returns the batches it acknowledged.
func crashRun(t *testing.T, path string, r int) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), crashPath+"="+path, crashRound+"="+strconv.Itoa(r))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []int, 1)
	go func() {
		var acked []int
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if b, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				n, err := strconv.Atoi(b)
				if err == nil {
					acked = append(acked, n)
				}
			}
		}
		lines <- acked
	}()
	// Past the child's start (tens of milliseconds), into its writes.
	time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	acked := <-lines
	_ = cmd.Wait() // killed: its error says so
	return acked
}

func crashCheck(t *testing.T, path string, acked map[[2]int]bool) {
	t.Helper()
	s, err := banbolt.Open(path, nil)
	if err != nil {
		t.Fatalf("Open after a kill: %v", err)
	}
	defer s.Close()
	found := map[[2]int]int{}
	err = s.Load(context.Background(), func(c ban.Change) error {
		var r, b, j int
		if _, err := fmt.Sscanf(c.Record.Subject.Account, "r%d-b%d-c%d", &r, &b, &j); err != nil {
			return fmt.Errorf("unexpected change %+v", c)
		}
		found[[2]int{r, b}]++
		return nil
	})
	if err != nil {
		t.Fatalf("Load after a kill: %v", err)
	}
	for k := range acked {
		if found[k] != crashPer {
			t.Errorf("round %d batch %d acknowledged, %d of %d changes loaded", k[0], k[1], found[k], crashPer)
		}
	}
	for k, n := range found {
		if n != crashPer {
			t.Errorf("round %d batch %d in part: %d of %d changes", k[0], k[1], n, crashPer)
		}
	}
}

// crashChild writes batches until killed, saying each acknowledged one.
func crashChild(path string) {
	r, _ := strconv.Atoi(os.Getenv(crashRound))
	s, err := banbolt.Open(path, &banbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	stop := time.Now().Add(10 * time.Second) // never outlive the parent for long
	for i := 0; time.Now().Before(stop); i++ {
		if err := s.Write(context.Background(), crashBatch(r, i)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", i)
	}
	os.Exit(0)
}
