#!/usr/bin/env bash
# The GPU checks of issue 12 in one run on a machine with a CUDA GPU, each step time-boxed, most telling first:
#   1. benchmarks/gpu.py part 1 (cheatsheet loop vs CV Studio, convnet and resnet);
#   2. the CUDA tests (tests/core/test_cuda.py: the step recorded as a CUDA graph, bf16/fp16, GPU checkpoint on the CPU);
#   3. `cvstudio train --device cuda --amp`, then the checkpoint read and used on the CPU (CUDA hidden);
#   4. `cvstudio train --nproc 1 --device cuda`: torchrun with NCCL on one GPU;
#   5. part 2 on CIFAR-10 where a copy is found on the machine, else its epoch time on CIFAR-sized noise.
# Needs torch, torchvision, pillow, safetensors, platformdirs, numpy, scipy and pytest (no Qt); a pure-Python one
# that is missing can come along in a folder on PYTHONPATH. Writes its files into OUTDIR.
#   benchmarks/gpu_check.sh [OUTDIR]
set -u
OUTDIR=${1:-${OUT:-/tmp/cvstudio-gpu-check}}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 CVSTUDIO_HOME=${CVSTUDIO_HOME:-$(mktemp -d)}
step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
$PY -c "import sys, torch, torchvision; print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version())"
nproc

step "1. benchmarks/gpu.py part 1"
timeout 180 $PY benchmarks/gpu.py --skip-accuracy --trials 3

step "2. CUDA tests"
timeout 150 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/core/test_cuda.py 2>&1 | tail -30

step "3. train on the GPU, use the checkpoint on the CPU"
timeout 90 $PY -m cvstudio train --device cuda --amp --epochs 3 --out "$OUTDIR/gpu.safetensors"
$PY -c "from PIL import Image; Image.new('RGB', (32, 32), (200, 40, 40)).save('$OUTDIR/red.png')"
CUDA_VISIBLE_DEVICES= timeout 40 $PY -m cvstudio info "$OUTDIR/gpu.safetensors" | head -12
CUDA_VISIBLE_DEVICES= timeout 40 $PY -m cvstudio classify "$OUTDIR/gpu.safetensors" "$OUTDIR/red.png"

step "4. torchrun with NCCL on one GPU"
timeout 90 $PY -m cvstudio train --nproc 1 --device cuda --epochs 3 --out "$OUTDIR/ddp.safetensors"

step "5. benchmarks/gpu.py part 2"
cifar=$(timeout 20 find / -xdev -maxdepth 6 -type d -name cifar-10-batches-py 2>/dev/null | head -1)
if [ -n "$cifar" ]; then
    echo "CIFAR-10 found at $cifar"
    timeout 150 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --data-dir "$(dirname "$cifar")" --max-epochs 30
else
    echo "no CIFAR-10 on this machine: the epoch time of part 2's run on CIFAR-sized noise"
    timeout 90 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --accuracy-data random --max-epochs 3
    echo "the same on the usual step (CVSTUDIO_CUDA_GRAPHS=0), for the recorded step's gain under one-cycle"
    CVSTUDIO_CUDA_GRAPHS=0 timeout 60 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --accuracy-data random --max-epochs 2
fi

echo "=== done ($(date +%T))"
