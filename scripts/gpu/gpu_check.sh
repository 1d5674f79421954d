#!/usr/bin/env bash
# Everything worth timing on one CUDA GPU, sized to finish in about 8 minutes (issues #3 and #4):
#   1. each image era's training step alone on the GPU: fp32 / bf16 / fp16 / channels_last     (~20 s)
#   2. the three translators' training throughput alone on the GPU, Multi30k de->en            (~30 s)
#   3. at the same time, for MINUTES each (default 5.5), sharing the GPU:
#      - the paper-faithful ResNet-20 schedule (He et al. 2015, Sec. 4.2), or its longest first part that fits
#      - the same for ResNet-56
#      - the three Multi30k translators, one after another, each on its whole config schedule (8 epochs)
#   Step 3 shares one GPU between three processes, so its seconds per epoch are slower than each job alone would
#   be; steps 1 and 2 are the clean speeds.
#
# Usage: MILESTONES_DATA=/path/to/data bash scripts/gpu/gpu_check.sh [OUTDIR]   (default OUTDIR: runs/gpu_check)
#   Logs and a tarball of the run folders (results, metrics, configs; no checkpoints) land in OUTDIR.
#   Where the data root cannot travel (a lent machine), pack it here first with `bash scripts/gpu/gpu_pack_data.sh`
#   (.gpu/data.tar.gz, carried with carry: [".gpu"]); scripts/gpu/gpu_env.sh unpacks it there.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-runs/gpu_check}
MINUTES=${MINUTES:-5.5}
RUNS=runs/gpu
mkdir -p "$OUTDIR" "$RUNS"
source scripts/gpu/gpu_env.sh || exit 1

echo "== 0. decode CIFAR-10 once into the cache ($(date +%T))"
python3 -c "
from milestones.data.images import cache_root, data_root, load_cifar10
import time; t = time.time(); x = load_cifar10(data_root(None), cache_root(None))
print('cifar10', tuple(x[0].shape), tuple(x[2].shape), f'{time.time() - t:.1f} s')" || exit 1

echo "== 1. image models alone ($(date +%T))"
python3 scripts/bench/bench_speed.py --device cuda --models resnet20 resnet56 alexnet vit_tiny --batch-size 128 \
    --steps 30 --no-compile
echo "== 2. translators alone ($(date +%T))"
python3 scripts/bench/bench_translation_speed.py --device cuda --data multi30k --steps 30

echo "== 3. ResNet paper schedules and Multi30k translators, sharing the GPU ($(date +%T))"
limit=$(python3 -c "print(int($MINUTES * 60 + 75))")  # a hard stop in case the shared GPU runs slower than timed
timeout "$limit" python3 scripts/gpu/gpu_resnet_paper.py --minutes "$MINUTES" --models resnet20 --output-dir $RUNS \
    > "$OUTDIR/resnet20.log" 2>&1 &
timeout "$limit" python3 scripts/gpu/gpu_resnet_paper.py --minutes "$MINUTES" --models resnet56 --output-dir $RUNS \
    > "$OUTDIR/resnet56.log" 2>&1 &
(
    end=$((SECONDS + limit))
    for m in transformer rnnsearch lstm_seq2seq; do
        left=$((end - SECONDS))
        [ "$left" -gt 20 ] || { echo "$m: no time left"; continue; }
        timeout "$left" python3 -m milestones train "configs/${m}_multi30k_cpu.yaml" --set trainer.device=cuda \
            --set trainer.progress=false --set output_dir=$RUNS --overwrite
    done
) > "$OUTDIR/translators.log" 2>&1 &
wait
echo "== done ($(date +%T))"
tail -n 6 "$OUTDIR/resnet20.log" "$OUTDIR/resnet56.log"
grep -E "test|BLEU|epoch +8/" "$OUTDIR/translators.log" | tail -n 12
tar czf "$OUTDIR/runs_gpu.tar.gz" --exclude='*.pt' $RUNS
