#!/usr/bin/env bash
# The chaos soak (issue 20): 1M records on 3 pods over PostgreSQL behind Toxiproxy; a random pod
# is killed (kill -9) every 5 s and started again 2 s later, the database is restarted once (60 s
# in), and toxics (latency, bandwidth, slicer, reset_peer) come and go on the pods' links to the
# store and to the Service. It is the test stage's short chaos run (tests/cluster/
# test_cluster_chaos.py) with larger knobs; at the end every record must be signed exactly once
# and verified, and each job that ended must have reported what the store shows.
#
#   bench/chaos_soak.sh                   # 1M records (about 15-30 min on 2 cores)
#   CHAOS_RECORDS=200000 bench/chaos_soak.sh
#
# Needs the release build and the tools of the test command (scripts/test.sh installs them).
# The timeline of faults and jobs is printed as it happens; docs/RELIABILITY.md has a run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHAOS_RECORDS="${CHAOS_RECORDS:-1000000}"
export CHAOS_BATCH_SIZE="${CHAOS_BATCH_SIZE:-5000}"
export CHAOS_KILL_EVERY_S="${CHAOS_KILL_EVERY_S:-5}"
export CHAOS_RESTART_AFTER_S="${CHAOS_RESTART_AFTER_S:-2}"
export CHAOS_RESTART_DB_AT_S="${CHAOS_RESTART_DB_AT_S:-60}"
export CHAOS_TOXIC_EVERY_S="${CHAOS_TOXIC_EVERY_S:-4}"
export CHAOS_SEED="${CHAOS_SEED:-20}"
export CHAOS_DEADLINE_S="${CHAOS_DEADLINE_S:-3600}"
exec python3 -m pytest -q -s -p no:cacheprovider \
  tests/cluster/test_cluster_chaos.py --durations=0 "$@"
