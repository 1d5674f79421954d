#!/usr/bin/env bash
# Issue #18 on one CUDA GPU, in one window of about 12 minutes:
#   1. throughput alone and packed (scripts/bench_pack.py: images/s, TFLOP/s, % of peak): ResNet-20, ResNet-56 and
#      ViT-Tiny eager at packs of 1-64 beside the trainer's own loop ("today"); then ResNet-20 packed under
#      torch.compile(mode="reduce-overhead") (CUDA graphs)
#   2. `compare --suite paper`: He et al.'s Table 6 / Fig. 6 sweep packed per depth first, then the ViT data study,
#      AlexNet vs MLP and the translators, planned to fit BUDGET minutes (default 7); the plan is printed before the
#      first run starts, and what did not fit is named in it
# Usage: MILESTONES_DATA=/path/to/data bash scripts/gpu_paper_suite.sh [OUTDIR]   (default OUTDIR: runs/gpu_paper)
#   Where the data cannot travel, pack CIFAR-10 and Multi30k first as for scripts/gpu_check.sh (.gpu/data.tar.gz).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-runs/gpu_paper}
BUDGET=${BUDGET:-7}
SEEDS=${SEEDS:-1}
PACK=${PACK:-10}
mkdir -p "$OUTDIR"
source scripts/gpu_env.sh

echo "== 0. decode CIFAR-10 once into the cache ($(date +%T))"
python3 -c "
from milestones.data.images import cache_root, data_root, load_cifar10
import time; t = time.time(); x = load_cifar10(data_root(None), cache_root(None))
print('cifar10', tuple(x[0].shape), tuple(x[2].shape), f'{time.time() - t:.1f} s')" || exit 1

echo "== 1a. throughput, alone and packed, eager ($(date +%T))"
timeout 150 python3 scripts/bench_pack.py --device cuda --models resnet20 resnet56 vit_tiny --packs 1 8 32 64 \
    --lone --channels-last --steps 20 --output "$OUTDIR/bench_pack" 2>&1 | tee "$OUTDIR/bench_pack.log"
echo "== 1b. ResNet-20 packed under CUDA graphs ($(date +%T))"
timeout 120 python3 scripts/bench_pack.py --device cuda --models resnet20 --packs 1 32 --compile reduce-overhead \
    --channels-last --steps 20 --output "$OUTDIR/bench_pack_graphs" 2>&1 | tee "$OUTDIR/bench_pack_graphs.log"

echo "== 2. the paper suite, packed and planned ($(date +%T))"
timeout $((BUDGET * 60 + 120)) python3 -m milestones compare --suite paper --seeds "$SEEDS" --pack "$PACK" \
    --budget-minutes "$BUDGET" --set trainer.device=cuda trainer.precision=bf16 trainer.channels_last=true \
    trainer.progress=false trainer.eval_every=4 --output "$OUTDIR/compare" 2>&1 | tee "$OUTDIR/suite.log"
tar czf "$OUTDIR/runs.tar.gz" --exclude='*.pt' runs/suite_paper 2>/dev/null
echo "== done ($(date +%T))"
