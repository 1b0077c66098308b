// geth_sign signs on demand with go-ethereum's crypto.Sign, for bench/sign_vs_geth.py, which
// takes turns between it and build/release/sign_rate (our sign path) in one run.
//
// go-ethereum is pinned in go.mod to the version tests/compat pins (the driver checks the two
// agree). Built with cgo, crypto.Sign runs go-ethereum's vendored libsecp256k1, as the original
// service did; the driver checks the binary was built with CGO_ENABLED=1.
//
// Protocol, one line each way, so the process stays warm between turns:
//
//	check PRIVHEX SALT MSG  ->  0x + hex of crypto.Sign(Keccak256(SALT + MSG), PRIV)
//	run THREADS MILLIS      ->  SIGNATURES ELAPSED_NANOSECONDS CPU_NANOSECONDS
//
// A run signs Keccak256(salt + msg) with crypto.Sign on THREADS goroutines (GOMAXPROCS is the
// number of cores) for MILLIS milliseconds: the work of the original service per record,
// without its UUID salt and hex encoding (our side does both, so the comparison favours
// go-ethereum). CPU time is the whole process's (user + system, runtime threads included).
package main

import (
	"bufio"
	"crypto/ecdsa"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

const (
	benchSalt = "b001ebc1-f2f7-44de-b5ff-1da0b16af05b"
	benchMsg  = "830f559b22b74bfcbb5631fae20462cb" // the original generator's 32 hex characters
)

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(key *ecdsa.PrivateKey, threads int, d time.Duration) (int64, time.Duration, time.Duration) {
	var total atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	salt, msg := []byte(benchSalt), []byte(benchMsg)
	ready.Add(threads)
	done.Add(threads)
	var deadline time.Time
	for t := 0; t < threads; t++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			var n int64
			for {
				for i := 0; i < 16; i++ {
					if _, err := crypto.Sign(crypto.Keccak256(salt, msg), key); err != nil {
						panic(err)
					}
				}
				n += 16
				if !time.Now().Before(deadline) {
					break
				}
			}
			total.Add(n)
		}()
	}
	ready.Wait()
	cpuBegin := cpuTime()
	begin := time.Now()
	deadline = begin.Add(d)
	close(start)
	done.Wait()
	elapsed := time.Since(begin)
	return total.Load(), elapsed, cpuTime() - cpuBegin
}

func main() {
	key, err := crypto.GenerateKey()
	if err != nil {
		panic(err)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) >= 3 && f[0] == "check":
			priv, err := crypto.HexToECDSA(strings.TrimPrefix(f[1], "0x"))
			if err != nil {
				fmt.Fprintln(out, "error:", err)
				break
			}
			msg := strings.Join(f[3:], " ")
			sig, err := crypto.Sign(crypto.Keccak256([]byte(f[2]), []byte(msg)), priv)
			if err != nil {
				fmt.Fprintln(out, "error:", err)
				break
			}
			fmt.Fprintln(out, hexutil.Encode(sig))
		case len(f) == 3 && f[0] == "run":
			threads, err1 := strconv.Atoi(f[1])
			millis, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || threads < 1 || millis < 1 {
				fmt.Fprintln(out, "error: run THREADS MILLIS")
				break
			}
			n, elapsed, cpu := run(key, threads, time.Duration(millis)*time.Millisecond)
			fmt.Fprintln(out, n, elapsed.Nanoseconds(), cpu.Nanoseconds())
		default:
			fmt.Fprintln(out, "error: check PRIVHEX SALT MSG | run THREADS MILLIS")
		}
		out.Flush()
	}
}
