#!/usr/bin/env bash
# Everything worth timing on a CUDA GPU, sized to finish in under 8 minutes on one recent GPU:
#   1. each era's training step in fp32 / bf16 / fp16 / channels_last / compile   (~2 min)
#   2. trainer overhead against a bare loop on the GPU                             (~0.5 min)
#   3. the paper-faithful ResNet-20 and ResNet-56 schedules, 2 minutes each        (~5 min)
# Usage: MILESTONES_DATA=/path/to/data bash scripts/gpu_check.sh > gpu_check.txt
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(), torch.__version__)"
python scripts/bench_speed.py --device cuda --batch-size 256 --steps 30
python scripts/bench_trainer_overhead.py --device cuda --dataset cifar10 --model resnet20 --steps 150 --repeats 3 --no-progress
python scripts/gpu_resnet_paper.py --minutes 2
