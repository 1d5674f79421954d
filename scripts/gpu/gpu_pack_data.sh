#!/usr/bin/env bash
# Pack the data a GPU window needs into .gpu/data.tar.gz (git-ignored), which the device tool carries
# (carry: [".gpu"]) and scripts/gpu/gpu_env.sh unpacks there: the ../shared/data beside a checkout does not travel.
# CIFAR-10 (the JPEG copy: 55 MB of files, ~20 MB packed, since gzip shares their identical JPEG headers) and
# Multi30k's tokenised task-1 splits; with the tracked tree (~27 MB) it stays under the tool's 64 MiB.
# Usage: bash scripts/gpu/gpu_pack_data.sh [DATA_ROOT]   (default: $MILESTONES_DATA, else ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-${MILESTONES_DATA:-../shared/data}}
mkdir -p .gpu
tar czf .gpu/data.tar.gz -C "$DATA" cifar10_jpeg/train cifar10_jpeg/test \
    multi30k/task1/tok/{train,val,test_2016_flickr}.lc.norm.tok.{de,en}
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
packed=$(stat -c %s .gpu/data.tar.gz)
echo ".gpu/data.tar.gz: $((packed / 1048576)) MiB; with the tracked tree $(((packed + tracked) / 1048576)) MiB of the 64 MiB that travel"
