#!/usr/bin/env bash
# one H200 call: the ResNet-20 CPU recipe's variants side by side (scripts/experiments/recipe_sweep.py), logs into $OUT
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
mkdir -p /tmp/d && tar xzf .gpu/data.tar.gz -C /tmp/d && export MILESTONES_DATA=/tmp/d
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc
python3 -c "
from milestones.data.images import cache_root, data_root, load_cifar10
import time; t = time.time(); x = load_cifar10(data_root(None), cache_root(None)); print('decoded', time.time() - t)"
JOBS=6; export OMP_NUM_THREADS=2
if nvidia-cuda-mps-control -d 2>&1; then
  if timeout 60 python3 -c "import torch; torch.zeros(1, device='cuda').sum().item(); print('MPS client ok')"; then echo MPS on
  else echo quit | nvidia-cuda-mps-control; echo "MPS client failed: off"; fi
fi
echo "jobs $JOBS $(date +%T)"
python3 scripts/experiments/recipe_sweep.py configs/resnet20_cifar10_cpu.yaml --seeds 0 1 --jobs $JOBS --deadline-minutes ${DEADLINE:-6.5} \
  --set trainer.device=cuda --set trainer.precision=fp32 --output-dir runs/sweep_gpu \
  --variant base --variant "b64:trainer.batch_size=64,optim.lr=0.05" --variant "b64lr0.1:trainer.batch_size=64" \
  --variant "ls0:trainer.label_smoothing=0" --variant "lr0.2:optim.lr=0.2" --variant "wd1e-3:optim.weight_decay=1e-3" \
  --eval single:trainer.test_flip=false --eval flip --eval shift1:trainer.test_shift=1 --eval shift2:trainer.test_shift=2 \
  2>&1 | tee $OUT/sweep.log
echo "end $(date +%T)"
cp runs/sweep_gpu/sweep.md runs/sweep_gpu/sweep.json $OUT/ 2>/dev/null
tail -n 3 runs/sweep_gpu/*.log > $OUT/run_tails.txt 2>/dev/null
tar czf $OUT/metrics.tar.gz runs/sweep_gpu/*/metrics.jsonl runs/sweep_gpu/*/results.json runs/sweep_gpu/*/config.yaml 2>/dev/null
