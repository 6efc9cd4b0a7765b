#!/usr/bin/env bash
# Continual walker (stand → walk → run, 20k frames each) from states at reduced widths: the plain
# agent, ReDo, resets at each switch, and three of the Plasticine methods, 2 seeds each; then one
# report over all of them. Usage: bash docs/evidence/continual/run.sh [OUT] (default runs/continual)
set -euo pipefail
out="${1:-runs/continual}"
dormant="${DORMANT:-.venv/bin/dormant}"
common=(agent=drqv2 obs=states task=continual/walker switch_every_frames=20000 frames=60000
        agent.hidden_dim=256 agent.batch_size=256 eval.every_frames=5000 eval.episodes=3 seeds=2 jobs=2)
"$dormant" sweep "${common[@]}" out="$out/plain"
"$dormant" sweep "${common[@]}" plasticity.redo=true out="$out/redo"
"$dormant" sweep "${common[@]}" plasticity.reset_at_frames=20000,40000 out="$out/reset"
"$dormant" sweep "${common[@]}" plasticity.layernorm=actor,critic out="$out/layernorm"
"$dormant" sweep "${common[@]}" plasticity.l2_init=1e-3 out="$out/l2_init"
"$dormant" sweep "${common[@]}" plasticity.crelu=actor,critic out="$out/crelu"
"$dormant" report "$out"/plain "$out"/redo "$out"/reset "$out"/layernorm "$out"/l2_init "$out"/crelu out="$out/report"
