#!/usr/bin/env bash
# Issue #17 on one CUDA GPU: the three Multi30k de->en translators at the papers' sizes, one after another, within
# about 12 minutes (each run capped; a run cut short keeps its last checkpoint, `--resume` finishes it):
#   lstm_seq2seq_multi30k_gpu.yaml   Sutskever et al. 2014: 4 x 1000 LSTM, SGD lr 0.7 halved after epoch 5
#   rnnsearch_multi30k_gpu.yaml      Bahdanau et al. 2015: n = 1000, m = 620, n' = 1000, l = 500
#   transformer_multi30k_gpu.yaml    Vaswani et al. 2017: Transformer base (6 + 6 layers, d_model 512)
# Then the BLEU table and the length-stress test of all three (scripts/experiments/exp_translation.py --stress 4).
# Usage: MILESTONES_DATA=/path/to/data bash scripts/gpu/gpu_translators.sh [OUTDIR]   (default OUTDIR: runs/gpu_translators)
#   Where the data cannot travel, pack it first: bash scripts/gpu/gpu_pack_data.sh (.gpu/data.tar.gz).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-runs/gpu_translators}
RUNS=runs/gpu
mkdir -p "$OUTDIR" "$RUNS"
source scripts/gpu/gpu_env.sh || exit 1
# caps in seconds, from the 8-epoch CPU configs' H200 times scaled by size and epochs (RESULTS.md: 47 / 146 / 76 s)
for run in lstm_seq2seq:150 rnnsearch:300 transformer:180; do
    m=${run%%:*}
    echo "== ${m}_multi30k_gpu ($(date +%T))"
    timeout "${run##*:}" python3 -m milestones train "configs/${m}_multi30k_gpu.yaml" --set trainer.progress=false \
        --set output_dir=$RUNS --overwrite 2>&1 | tee "$OUTDIR/$m.log"
done
echo "== tables ($(date +%T))"
timeout 90 python3 scripts/experiments/exp_translation.py $RUNS/lstm_seq2seq_multi30k_gpu $RUNS/rnnsearch_multi30k_gpu \
    $RUNS/transformer_multi30k_gpu --stress 4 --output-dir "$OUTDIR" 2>&1 | tee "$OUTDIR/table.log"
tar czf "$OUTDIR/runs.tar.gz" --exclude='*.pt' $RUNS 2>/dev/null
echo "== done ($(date +%T))"
