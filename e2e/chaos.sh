#!/usr/bin/env bash
# Runs the chaos scenarios N times in a row (default 20), each with its own seed for the random
# timings (printed; DRC_CHAOS_SEED=S replays one), and stops at the first invariant violation.
# usage: npm run chaos -- [N] [FIRST_SEED]
set -u
n=${1:-20}
seed=${2:-$RANDOM}
cd "$(dirname "$0")/.."
# The eight scenarios of the chaos suite: 1-3 pg-failover (kill -9 under writes, switchover and
# failback, split brain), 4 coordinator-handover, 5 infra-restart, 6 flapping, 7 witness-cut,
# 8 deploy/nats-cluster (a node of the 3-node cluster killed); issue 17, "never make things
# worse": 9-11 never-worse-restarts (the coordinator SIGSTOPped for 3 s, an agent restarted
# beyond and within its lease), 12-16 never-worse (single probe timeouts, a PostgreSQL primary
# restarted in place, a slow fence beside another failover, a replica probe timeout mid-failover,
# the PostgreSQL primary's agent killed past its lease: its watchdog fences).
# Every scenario runs under the harness's split-brain watcher.
files="e2e/src/pg-failover.e2e.test.ts e2e/src/coordinator-handover.e2e.test.ts e2e/src/infra-restart.e2e.test.ts e2e/src/flapping.e2e.test.ts e2e/src/witness-cut.e2e.test.ts e2e/src/deploy/nats-cluster.e2e.test.ts e2e/src/never-worse-restarts.e2e.test.ts e2e/src/never-worse.e2e.test.ts"
pass=0
for i in $(seq 1 "$n"); do
  s=$((seed + i))
  start=$(date +%s)
  if DRC_CHAOS_SEED=$s npx vitest run -c .config/vitest.config.ts $files > "/tmp/drc-chaos-$s.log" 2>&1; then
    pass=$((pass + 1))
    echo "run $i/$n seed $s: passed in $(( $(date +%s) - start )) s"
    # Each scenario's measured RTO and data loss, and each watcher's sampling, as printed (colours stripped).
    sed 's/\x1b\[[0-9;]*m//g' "/tmp/drc-chaos-$s.log" | grep -a '^\[.*\(RTO\|lost\|split-brain watcher\)' | sed 's/^/    /'
  else
    echo "run $i/$n seed $s: FAILED (log: /tmp/drc-chaos-$s.log)"
    echo "$pass passed, 1 failed"
    exit 1
  fi
done
echo "$pass passed, 0 failed"
