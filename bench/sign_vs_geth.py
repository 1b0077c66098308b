#!/usr/bin/env python3
"""Our sign path against go-ethereum's crypto.Sign and the bare libsecp256k1 call, in one run.

Two long-lived processes take turns, so that a shared machine's drift falls on both alike:
  build/release/sign_rate   (bench/sign_rate.cpp) our SignPath: UUIDv4 salt, Keccak-256(salt +
                            msg), secp256k1_ecdsa_sign_recoverable, serialize, hex; and the bare
                            library call on a precomputed hash;
  BUILD/geth_sign           (bench/geth_sign, Go, cgo) crypto.Sign(Keccak256(salt, msg), key) of
                            the go-ethereum version tests/compat pins, on its vendored
                            libsecp256k1. It does no salt and no hex, so the comparison favours it.
Each round runs bare, path and geth for --seconds each (the order rotates every round), on one
thread and on all cores. A ratio is taken within a round (turns seconds apart) and the report
gives the median and the range over the rounds. Targets (issue 21), on wall-clock signatures/s:
path / geth >= 1.05 and path / bare >= 0.97. It also reports signatures per CPU second of each
process (its user + system time over the turn, Go's runtime threads included), which a busy
machine disturbs less: a thread that waits for a core costs wall time, not CPU time.

Before it measures, it checks that both programs sign the first shared vector
(../shared/vectors/deterministic.ndjson) to its pinned bytes (the same work), that geth_sign was
built with CGO_ENABLED=1 against the go-ethereum version tests/compat/go.mod pins, and that
sign_rate runs libsecp256k1 0.7 or newer: with an older library it refuses to compare with
go-ethereum (exit 3), because the figure would describe the library, not the sign path.

Usage: bench/sign_vs_geth.py [--build DIR] [--rounds 7] [--seconds 2] [--json OUT.json]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO = next((g for g in ("go", "/usr/local/go/bin/go")
           if subprocess.run(["sh", "-c", f"command -v {g}"], capture_output=True).returncode == 0),
          "go")
TARGET_GETH = 1.05
TARGET_BARE = 0.97


def pinned_geth_version(go_mod):
    m = re.search(r"github\.com/ethereum/go-ethereum\s+(v\S+)", open(go_mod).read())
    if not m:
        raise SystemExit(f"{go_mod} does not require github.com/ethereum/go-ethereum")
    return m.group(1)


def build_programs(build):
    """Builds sign_rate (CMake) and geth_sign (Go, cgo) into `build`; returns their paths."""
    if os.path.realpath(build) == os.path.realpath(os.path.join(REPO, "build/release")):
        subprocess.run([f"{REPO}/scripts/build.sh", "release", "sign_rate"], check=True,
                       stdout=subprocess.DEVNULL)
    sign_rate = os.path.join(build, "sign_rate")
    if not os.access(sign_rate, os.X_OK):
        raise SystemExit(f"{sign_rate} is missing: build the sign_rate target")
    geth_sign = os.path.join(build, "geth_sign")
    subprocess.run([GO, "build", "-o", geth_sign, "."], check=True,
                   cwd=os.path.join(REPO, "bench/geth_sign"),
                   env=dict(os.environ, CGO_ENABLED="1"))
    return sign_rate, geth_sign


def check_geth_binary(geth_sign):
    """The binary must carry cgo and the go-ethereum version tests/compat pins."""
    want = pinned_geth_version(os.path.join(REPO, "tests/compat/go.mod"))
    bench_pin = pinned_geth_version(os.path.join(REPO, "bench/geth_sign/go.mod"))
    if bench_pin != want:
        raise SystemExit(f"bench/geth_sign/go.mod pins go-ethereum {bench_pin}, tests/compat "
                         f"pins {want}: make them agree")
    info = subprocess.run([GO, "version", "-m", geth_sign], check=True, capture_output=True,
                          text=True).stdout
    if not re.search(rf"dep\s+github\.com/ethereum/go-ethereum\s+{re.escape(want)}\s", info):
        raise SystemExit(f"{geth_sign} is not built with go-ethereum {want}")
    if not re.search(r"build\s+CGO_ENABLED=1", info):
        raise SystemExit(f"{geth_sign} was built without cgo (pure-Go secp256k1): not the "
                         "library go-ethereum signs with in production")
    return want


class Turn:
    """A long-lived benchmark process spoken to one line at a time."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            raise SystemExit(f"{self.proc.args[0]}: {line!r} -> {answer!r}")
        return answer

    def rate(self, command):
        """(signatures per wall-clock second, signatures per CPU second of the process)."""
        n, wall_ns, cpu_ns = (int(v) for v in self.ask(command).split())
        return n / (wall_ns / 1e9), n / (cpu_ns / 1e9)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def machine_load():
    """Load averages and the busiest other processes, to say what else was running."""
    load = open("/proc/loadavg").read().split()[:3]
    top = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                         capture_output=True, text=True).stdout.splitlines()
    busy = [line.split(None, 1) for line in top[:8]]
    busy = [f"{name.strip()} {cpu}%" for cpu, name in busy if float(cpu) >= 5
            and name.strip() not in ("sign_rate", "geth_sign", "ps")]
    return f"load average {' '.join(load)}; busiest: {', '.join(busy) or 'none above 5% CPU'}"


def spread(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def ratio_spread(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("SIGNER_BUILD_DIR")
                    or os.path.join(REPO, "build/release"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one turn")
    ap.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                    help="comma-separated thread counts (default: 1 and all cores)")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    args = ap.parse_args()
    threads = sorted({int(t) for t in args.threads.split(",")})
    millis = int(args.seconds * 1000)

    sign_rate_bin, geth_bin = build_programs(args.build)
    geth_version = check_geth_binary(geth_bin)
    ours = Turn([sign_rate_bin])
    library = ours.proc.stdout.readline().split()  # libsecp256k1 VERSION LINKAGE current|old
    if len(library) != 4 or library[0] != "libsecp256k1":
        raise SystemExit(f"sign_rate did not name its libsecp256k1: {library}")
    print(f"ours: libsecp256k1 {library[1]} ({library[2]}); go-ethereum {geth_version} (cgo)")
    if library[3] != "current":
        print(f"REFUSED: libsecp256k1 {library[1]} is older than the project's minimum. A ratio "
              f"against go-ethereum would measure the old library, not the sign path; install "
              f"0.7.1 (scripts/install-secp256k1.sh) and rebuild.", file=sys.stderr)
        ours.close()
        return 3
    geth = Turn([geth_bin])

    shared = os.environ.get("SIGNER_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
    vector = json.loads(open(os.path.join(shared, "vectors/deterministic.ndjson")).readline())
    for name, turn in (("sign_rate", ours), ("geth_sign", geth)):
        got = turn.ask(f"check {vector['priv']} {vector['salt']} {vector['msg']}")
        if got != vector["sign"]:
            raise SystemExit(f"{name} signs the shared vector as {got}, expected {vector['sign']}")

    before = machine_load()
    print(f"before: {before}")
    for t in threads:  # a warm-up turn of each, not counted
        ours.rate(f"run bare {t} 300")
        ours.rate(f"run path {t} 300")
        geth.rate(f"run {t} 300")
    modes = ["bare", "path", "geth"]
    metrics = ("wall", "cpu")
    rates = {(k, m, t): [] for k in metrics for m in modes for t in threads}
    pairs = (("path", "geth"), ("path", "bare"), ("bare", "geth"))
    ratios = {(k, a, b, t): [] for k in metrics for a, b in pairs for t in threads}
    started = time.monotonic()
    for r in range(args.rounds):
        for t in threads:
            got = {}
            for m in modes[r % 3:] + modes[:r % 3]:
                got[m] = geth.rate(f"run {t} {millis}") if m == "geth" \
                    else ours.rate(f"run {m} {t} {millis}")
            for i, k in enumerate(metrics):
                for m in modes:
                    rates[(k, m, t)].append(got[m][i])
                for a, b in pairs:
                    ratios[(k, a, b, t)].append(got[a][i] / got[b][i])
        print(f"round {r + 1}/{args.rounds}: " + "; ".join(
            f"{t} thr path/geth {ratios[('wall', 'path', 'geth', t)][-1]:.3f} path/bare "
            f"{ratios[('wall', 'path', 'bare', t)][-1]:.3f}" for t in threads), flush=True)
    after = machine_load()
    ours.close()
    geth.close()

    print(f"\n{args.rounds} rounds of {args.seconds:g} s turns, "
          f"{time.monotonic() - started:.0f} s; after: {after}")
    ok = True
    for k, title in (("wall", "signatures per second (wall clock)"),
                     ("cpu", "signatures per CPU second of the process")):
        print(f"\n{title}, median (min-max) over the rounds:")
        print(f"{'threads':>8} {'bare libsecp256k1':>26} {'our sign path':>26} "
              f"{'go-ethereum':>26}")
        for t in threads:
            print(f"{t:>8} {spread(rates[(k, 'bare', t)]):>26} "
                  f"{spread(rates[(k, 'path', t)]):>26} {spread(rates[(k, 'geth', t)]):>26}")
        print("ratios within a round, median (min-max):")
        for t in threads:
            pg = statistics.median(ratios[(k, "path", "geth", t)])
            pb = statistics.median(ratios[(k, "path", "bare", t)])
            if k == "wall":
                ok = ok and pg >= TARGET_GETH and pb >= TARGET_BARE
            print(f"  {t} thread(s): path / geth {ratio_spread(ratios[(k, 'path', 'geth', t)])} "
                  f"[target >= {TARGET_GETH}: {'met' if pg >= TARGET_GETH else 'MISSED'}]; "
                  f"path / bare {ratio_spread(ratios[(k, 'path', 'bare', t)])} "
                  f"[target >= {TARGET_BARE}: {'met' if pb >= TARGET_BARE else 'MISSED'}]; "
                  f"bare / geth {ratio_spread(ratios[(k, 'bare', 'geth', t)])}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"libsecp256k1": library[1], "go_ethereum": geth_version,
                       "rounds": args.rounds, "seconds": args.seconds,
                       "before": before, "after": after,
                       "rates": {f"{k}/{m}/{t}": v for (k, m, t), v in rates.items()},
                       "ratios": {f"{k}/{a}/{b}/{t}": v
                                  for (k, a, b, t), v in ratios.items()}}, out, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
