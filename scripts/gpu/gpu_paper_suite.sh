#!/usr/bin/env bash
# Issue #18 on one CUDA GPU, sized for the device tool: a call may run 10 minutes, the whole lease is 15 (the
# machine's start included), and what comes back is at most 8 files in $OUT. Every step is bounded by what is left
# of DEADLINE seconds, so the bundle at the end is always written:
#   bench  throughput (scripts/bench/bench_pack.py): the trainer's loop for one net ("today") beside packs of 1/8/32/64,
#          eager, for ResNet-20, ResNet-56 and ViT-Tiny; then ResNet-20 packs as one CUDA graph of the whole step
#          and under torch.compile(mode="reduce-overhead")
#   suite  `compare --suite paper --pack 10`, planned to fit what is left (the plan is printed before the first
#          run; a pack whose turn comes with too little time left is not started, and is named), then the
#          leaderboard, Fig. 6 (degradation.png), the ViT data plot and claims.md, gathered again from whatever
#          finished in case the suite was cut off
#   then   DEST/gpu_paper_<parts>.tar.gz (every log, table, plot and run folder, no checkpoints) and the main
#          tables beside it as plain files
#
# Before the lease, here:  bash scripts/gpu/gpu_pack_data.sh     (.gpu/data.tar.gz: CIFAR-10 and Multi30k, ~20 MiB)
# The window, two calls of the device tool, the second at once (the machine stays warm 30 s):
#   run(command="PARTS=bench DEADLINE=210 bash scripts/gpu/gpu_paper_suite.sh $OUT", carry=[".gpu"], timeout_s=260)
#   run(command="PARTS=suite DEADLINE=560 bash scripts/gpu/gpu_paper_suite.sh $OUT", carry=[".gpu"], timeout_s=600)
# or both parts in one call (PARTS="bench suite", the default), leaving the suite less time.
# A dry run of the same steps on a CPU (tests/test_pack.py runs one):
#   DEVICE=cpu SCALE=0.002 DEADLINE=300 bash scripts/gpu/gpu_paper_suite.sh /tmp/dry
# Knobs: PARTS, DEADLINE (s), DEVICE (cuda|cpu), SUITE (paper), SEEDS (1), PACK (10), SCALE (the suite's --scale),
# ROOT (the folder whose runs/ the work goes into; default the repository). Exit code 1 if a step failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
DEST=$(mkdir -p "${1:-runs}" && cd "${1:-runs}" && pwd)
PARTS=${PARTS:-bench suite}
DEADLINE=${DEADLINE:-560}
DEVICE=${DEVICE:-cuda}
SUITE=${SUITE:-paper}
SEEDS=${SEEDS:-1}
PACK=${PACK:-10}
SCALE=${SCALE:-}
END=$(($(date +%s) + DEADLINE))
RESERVE=40  # seconds kept back for gathering the leaderboard and writing the bundle
WORK=runs/gpu_paper
RUNS=runs/suite_$SUITE
TAG=$(echo "$PARTS" | tr ' ' '_')
export DEVICE
source scripts/gpu/gpu_env.sh > /tmp/gpu_env_$$.log 2>&1 || { cat /tmp/gpu_env_$$.log; exit 1; }
cd "${ROOT:-$REPO}" || exit 1
mkdir -p "$WORK"
rm -f "$WORK/failed"

left() { echo $((END - $(date +%s) - RESERVE)); }

bench() {  # bench NAME CAP_SECONDS ARGS...: bench_pack.py for at most CAP seconds (or what is left)
    local name=$1 cap=$2 t
    shift 2
    t=$(left)
    [ "$t" -gt "$cap" ] && t=$cap
    if [ "$t" -lt 15 ]; then echo "== $name: skipped, $t s left"; return; fi
    echo "== bench $name, at most $t s ($(date +%T))"
    timeout "$t" python3 "$REPO/scripts/bench/bench_pack.py" --device "$DEVICE" --output "$WORK/$name" "$@"
    local rc=$?
    if [ "$rc" -eq 124 ]; then echo "== bench $name: cut off at $t s (its table keeps the rows it measured)"
    elif [ "$rc" -ne 0 ]; then echo "bench $name: exit code $rc" | tee -a "$WORK/failed"; fi
}

window() {
    cat /tmp/gpu_env_$$.log
    echo "== CIFAR-10 decoded once into the cache ($(date +%T))"
    timeout "$(left)" python3 -c "
from milestones.data.images import cache_root, data_root, load_cifar10
import time; t = time.time(); x = load_cifar10(data_root(None), cache_root(None))
print('cifar10', tuple(x[0].shape), tuple(x[2].shape), f'{time.time() - t:.1f} s')" \
        || { echo "CIFAR-10 decoding: exit code $?" | tee -a "$WORK/failed"; return; }

    if [[ " $PARTS " == *" bench "* ]]; then
        if [ "$DEVICE" = cpu ]; then  # the same wiring, tiny; CUDA graphs and compiling are GPU-only or slow here
            bench bench_pack 60 --models resnet20 --packs 2 --lone --steps 1 --batch-size 8
            bench bench_graphs 30 --models vit_tiny --packs 2 --steps 1 --batch-size 8
        else
            bench bench_pack 120 --models resnet20 resnet56 vit_tiny --packs 1 8 32 64 --lone --channels-last --steps 20
            bench bench_graphs 100 --models resnet20 --packs 1 32 --graph --compile reduce-overhead --channels-last \
                --steps 20
        fi
    fi

    if [[ " $PARTS " == *" suite "* ]]; then
        local t=$(left)
        if [ "$t" -lt 60 ]; then
            echo "== suite: skipped, $t s left"
        else  # the suite plans to the minute against its budget; its process is cut off 20 s after that
            local budget
            budget=$(python3 -c "print(round(max($t - 20, 30) / 60, 2))")
            echo "== compare --suite $SUITE --pack $PACK, budget $budget min ($(date +%T))"
            timeout "$t" python3 -m milestones compare --suite "$SUITE" --seeds "$SEEDS" --pack "$PACK" \
                --budget-minutes "$budget" ${SCALE:+--scale "$SCALE"} --output "$WORK/compare" \
                --set trainer.device="$DEVICE" trainer.precision=bf16 trainer.channels_last=true \
                trainer.progress=false trainer.eval_every=4
            local rc=$?
            echo "== suite ended with exit code $rc ($(date +%T)); gathering what finished"
            [ "$rc" -ne 0 ] && echo "suite: exit code $rc" >> "$WORK/failed"
        fi
        timeout 30 python3 -m milestones compare --runs "$RUNS" --output "$WORK/compare" > "$WORK/gather.log" 2>&1 \
            || echo "gather: exit code $? (see gather.log)" | tee -a "$WORK/failed"
    fi
    echo "== done ($(date +%T)), $(($(date +%s) - END + DEADLINE)) s of $DEADLINE"
}

window 2>&1 | tee "$WORK/console_$TAG.log"
tar czf "$DEST/gpu_paper_$TAG.tar.gz" --exclude='*.pt' --exclude='*.pt.prev' "$WORK" $( [ -d "$RUNS" ] && echo "$RUNS")
for f in bench_pack/table.md bench_graphs/table.md compare/leaderboard.md compare/claims.md; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$DEST/${f%%/*}_$(basename "$f")"
done
cp "$WORK/console_$TAG.log" "$DEST/"
ls -la "$DEST"
if [ -f "$WORK/failed" ]; then echo "failed steps:"; cat "$WORK/failed"; exit 1; fi
