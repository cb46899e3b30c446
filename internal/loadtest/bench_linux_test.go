package loadtest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/netnstest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

// rounds is how many times BenchmarkRegister runs its variants, in turn:
// Go's -count repeats each sub-benchmark back to back, so that a slow
// spell on a shared machine would fall on one variant only.
var rounds = flag.Int("loadtest.rounds", 5, "interleaved rounds of BenchmarkRegister's variants")

// split puts the server and the phones on CPU 0, the flood on CPU 1, and
// loopback's receive path on CPU 0 (RPS): as on a real host, the server's
// CPU pays the kernel's work for every flood datagram up to its drop, and
// the attacker's sending is not on its cores.
var split = flag.Bool("loadtest.split", false, "server and phones on CPU 0, the flood and its sending on CPU 1")

// clients is how many phones register at once, each on its own socket.
const clients = 16

// floodLimit bounds one flood: a minute of FloodRate.
const floodLimit = 60 * FloodRate

// BenchmarkRegister measures completed registrations (REGISTER, 401,
// REGISTER with digest, 200) per second from clients concurrent phones on
// loopback: through the plain server, through the same server protected
// by sipban, and through the protected one while FloodRate datagrams a
// second arrive from 49 banned sources, dropped by the read filter
// (memory) or in the kernel (nftables, which needs SIPBAN_NETNS=1 as
// root). One op is one registration; each run starts a fresh server. The
// variants run in turn, -loadtest.rounds times (Go names the repeats
// plain#01, plain#02 ...); run them with -count 1, which would otherwise
// repeat each variant back to back.
func BenchmarkRegister(b *testing.B) {
	variants := []struct {
		name           string
		protect, flood bool
		kernel         func(b *testing.B) func(port uint16) []enforce.Enforcer
	}{
		{name: "plain"},
		{name: "sipban", protect: true},
		{name: "sipban-flood-memory", protect: true, flood: true},
		{name: "sipban-flood-nftables", protect: true, flood: true, kernel: kernelBans},
	}
	if *split {
		splitCPUs(b)
	}
	for range *rounds {
		for _, v := range variants {
			b.Run(v.name, func(b *testing.B) {
				if *split {
					pin(b)
				}
				var kernel func(uint16) []enforce.Enforcer
				if v.kernel != nil {
					kernel = v.kernel(b)
				}
				r := start(b, v.protect, kernel)
				var f *Flood
				if v.flood {
					f = r.flood(b)
				}
				load(b, r, f)
			})
		}
	}
}

// kernelBans returns the nftables enforcer for the server's port, in the
// test's own network namespace.
func kernelBans(b *testing.B) func(port uint16) []enforce.Enforcer {
	netnstest.Require(b)
	return func(port uint16) []enforce.Enforcer {
		e, err := nftables.New(context.Background(), nftables.Options{Table: "loadtest", Ports: []uint16{port}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := e.Close(); err != nil {
				b.Error(err)
			}
		})
		return []enforce.Enforcer{e}
	}
}

// load runs b.N registrations from clients phones against r, with f
// flooding if not nil, and reports the rates.
func load(b *testing.B, r *rig, f *Flood) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	cs := r.dial(b, clients)
	for _, c := range cs {
		// Warm up: the first login makes the phone a known device.
		if status, err := c.Register(ctx); err != nil || status != 200 {
			b.Fatalf("%v: status %d, %v", c.LocalAddr(), status, err)
		}
	}
	var flooded sync.WaitGroup
	floodThread := 0
	if f != nil {
		tid := make(chan int, 1)
		flooded.Go(func() {
			// On its own thread, so that its CPU time can be read: on
			// loopback that includes the kernel's work for each datagram
			// up to its drop, which a real host's attacker does not pay.
			runtime.LockOSThread()
			if *split {
				// Go starts no thread from a locked one, so no
				// other work inherits this CPU.
				if err := unix.SchedSetaffinity(0, onCPU(1)); err != nil {
					b.Error(err)
				}
			}
			tid <- unix.Gettid()
			if err := f.Run(ctx, FloodRate, floodLimit); err != nil && !errors.Is(err, context.Canceled) {
				b.Error(err)
			}
		})
		defer flooded.Wait()
		floodThread = <-tid
	}
	runtime.GC() // the garbage of the run before is not this one's
	udp0 := udpStats(b)
	cpu0, floodCPU0 := cpuTime(b), threadCPU(b, floodThread)
	sent0 := floodSent(f)
	start := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if status, err := c.Register(ctx); err != nil || status != 200 {
					errs[i] = fmt.Errorf("%v: status %d: %w", c.LocalAddr(), status, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start).Seconds()
	udp1 := udpStats(b)
	cpu, floodCPU := cpuTime(b)-cpu0, threadCPU(b, floodThread)-floodCPU0
	sent := floodSent(f) - sent0
	cancel()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	retransmits := 0
	for _, c := range cs {
		retransmits += c.Retransmits()
	}
	b.ReportMetric(float64(b.N)/elapsed, "regs/s")
	b.ReportMetric(float64(retransmits)/float64(b.N), "retransmits/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(udp1.rcvbufErrors-udp0.rcvbufErrors)/elapsed, "rcvbuf-drops/s")
	if f != nil {
		b.ReportMetric(float64(sent)/elapsed, "flood-dps")
		b.ReportMetric(float64(floodCPU.Microseconds())/float64(b.N), "flood-cpu-µs/op")
	}
}

// splitCPUs checks that -loadtest.split can work and steers loopback's
// receive work to CPU 0 for the benchmark.
func splitCPUs(b *testing.B) {
	netnstest.Require(b)
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		b.Fatal(err)
	}
	if !all.IsSet(0) || !all.IsSet(1) {
		b.Fatalf("-loadtest.split needs CPUs 0 and 1; this process may use %d", all.Count())
	}
	rps := filepath.Join(netnstest.Sysfs(b), "class", "net", "lo", "queues", "rx-0", "rps_cpus")
	if err := os.WriteFile(rps, []byte("1"), 0); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := os.WriteFile(rps, []byte("0"), 0); err != nil {
			b.Error(err)
		}
	})
	b.Cleanup(func() { setAffinity(b, &all) })
}

// pin puts every thread of the process on CPU 0; threads started later
// inherit it.
func pin(b *testing.B) { setAffinity(b, onCPU(0)) }

func setAffinity(b *testing.B, set *unix.CPUSet) {
	// Twice, for a thread started while the first pass ran.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				b.Fatal(err)
			}
			// A thread may end meanwhile.
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				b.Fatalf("thread %d: %v", tid, err)
			}
		}
	}
}

func onCPU(c int) *unix.CPUSet {
	var set unix.CPUSet
	set.Set(c)
	return &set
}

// cpuTime returns the CPU time the process has used, user and system: the
// server's, the clients' and the flood's together, and the kernel's work
// for their datagrams on loopback, which runs in the sender's system call.
// Unlike the rates, it does not fall when other processes take the cores.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU returns the CPU time, user and system, of this process's
// thread tid (0: none), in clock ticks of 10 ms.
func threadCPU(b *testing.B, tid int) time.Duration {
	if tid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		b.Fatal(err)
	}
	// After the command name, in parentheses, come the state (the 3rd
	// field of the line) and, 11 on, utime and stime (the 14th and 15th).
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		b.Fatalf("thread %d stat %q: no command name", tid, stat)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		b.Fatalf("thread %d stat %q: too few fields", tid, stat)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("thread %d stat: %v", tid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func floodSent(f *Flood) int64 {
	if f == nil {
		return 0
	}
	return f.Sent()
}

// udp holds the network namespace's UDP counters from /proc/net/snmp.
type udp struct{ rcvbufErrors int64 }

// udpStats reads the UDP counters: datagrams dropped for a full receive
// buffer, across the namespace (in the host's, other processes' too).
func udpStats(b *testing.B) udp {
	file, err := os.Open("/proc/net/snmp")
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	var names []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(fields) {
				n, err := strconv.ParseInt(fields[i], 10, 64)
				if err != nil {
					b.Fatalf("/proc/net/snmp: %v", err)
				}
				return udp{rcvbufErrors: n}
			}
		}
	}
	b.Fatalf("/proc/net/snmp: no Udp RcvbufErrors (%v)", sc.Err())
	return udp{}
}
