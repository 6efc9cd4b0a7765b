#!/usr/bin/env bash
# A hyperparameter sweep and its report: DrQ-v2 on state-based cartpole balance with two
# learning rates × SEEDS seeds, then `dormant report`, which labels the methods by the
# value that differs ("drqv2 agent.lr=0.0001", "drqv2 agent.lr=0.0003").
#
#   examples/hyperparameter_sweep.sh                     # 2 × 3 runs of 100k frames (CPU: about an hour)
#   OUT=sweeps/lr FRAMES=20000 SEEDS=1 examples/hyperparameter_sweep.sh
#   examples/hyperparameter_sweep.sh jobs=1 agent.hidden_dim=256   # more options for every run
#
# Running it again continues the sweep (finished runs are skipped). A third learning rate
# can be added later with the same OUT: agent.lr=1e-4,3e-4,1e-3 (the runs already done are
# kept). Other values this script fixes (task, agent, obs) must stay the same in that OUT.
set -euo pipefail

OUT=${OUT:-sweeps/hyperparameter_example}
FRAMES=${FRAMES:-100000}
SEEDS=${SEEDS:-3}
LRS=${LRS:-1e-4,3e-4}

dormant sweep agent=drqv2 task=dmc/cartpole_balance obs=states seeds="$SEEDS" frames="$FRAMES" \
  agent.lr="$LRS" out="$OUT" "$@"
dormant report "$OUT"
echo "report: $OUT/report/report.md"
