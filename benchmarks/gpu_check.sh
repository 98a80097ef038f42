#!/usr/bin/env bash
# The GPU checks of issue 12 in one run on a machine with a CUDA GPU, each step time-boxed, most telling first:
#   1. benchmarks/gpu.py part 1 (cheatsheet loop vs CV Studio, convnet and resnet);
#   2. the CUDA tests (tests/core/test_cuda.py: the step recorded as a CUDA graph, bf16/fp16, GPU checkpoint on the CPU);
#   3. `cvstudio train --device cuda --amp`, then the checkpoint read and used on the CPU (CUDA hidden);
#   4. `cvstudio train --nproc 1 --device cuda`: torchrun with NCCL on one GPU;
#   5. part 2 on CIFAR-10 where a copy is found on the machine, else its epoch time on CIFAR-sized noise;
#   6. part 1 again with torch.compile (whether it measurably helps on a GPU).
# The whole run keeps within BUDGET_S seconds (default 480, inside one 10-minute device call with room for the
# machine's start): a step gets the smaller of its own limit and what is left, and a step that would get under
# 20 s is skipped and named, so the most telling steps always run and the script always ends.
# Needs torch, torchvision, pillow, safetensors, platformdirs, numpy, scipy and pytest (no Qt); a pure-Python one
# that is missing can come along in a folder on PYTHONPATH. Writes its files into OUTDIR.
#   [BUDGET_S=480] benchmarks/gpu_check.sh [OUTDIR]
set -u
OUTDIR=${1:-${OUT:-/tmp/cvstudio-gpu-check}}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-480}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 CVSTUDIO_HOME=${CVSTUDIO_HOME:-$(mktemp -d)}
STARTED=$SECONDS
SKIPPED=$OUTDIR/skipped.txt  # a file, not an array: a step in a pipeline runs in a subshell
: >"$SKIPPED"
step() { echo; echo "=== $* ($(date +%T), $((SECONDS - STARTED)) s in)"; }
# boxed LIMIT CMD...: CMD under `timeout`, LIMIT cut to the budget that is left; skipped when under 20 s would remain
boxed() {
    local limit=$1 left=$((BUDGET_S - (SECONDS - STARTED)))
    shift
    (( left < limit )) && limit=$left
    if (( limit < 20 )); then
        echo "skipped, out of the ${BUDGET_S} s budget: $*"
        echo "$*" >>"$SKIPPED"
        return 124
    fi
    timeout "$limit" "$@"
}

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
$PY -c "import sys, torch, torchvision; print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version())"
nproc

step "1. benchmarks/gpu.py part 1"
boxed 180 $PY benchmarks/gpu.py --skip-accuracy --trials 3

step "2. CUDA tests"
boxed 150 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/core/test_cuda.py 2>&1 | tail -30

step "3. train on the GPU, use the checkpoint on the CPU"
if boxed 90 $PY -m cvstudio train --device cuda --amp --epochs 3 --out "$OUTDIR/gpu.safetensors"; then
    $PY -c "from PIL import Image; Image.new('RGB', (32, 32), (200, 40, 40)).save('$OUTDIR/red.png')"
    CUDA_VISIBLE_DEVICES= boxed 40 $PY -m cvstudio info "$OUTDIR/gpu.safetensors" | head -12
    CUDA_VISIBLE_DEVICES= boxed 40 $PY -m cvstudio classify "$OUTDIR/gpu.safetensors" "$OUTDIR/red.png"
fi

step "4. torchrun with NCCL on one GPU"
boxed 90 $PY -m cvstudio train --nproc 1 --device cuda --epochs 3 --out "$OUTDIR/ddp.safetensors"

step "5. benchmarks/gpu.py part 2"
# (the tests' made-up copies under /tmp/pytest-of-* do not count)
cifar=$(timeout 20 find / -xdev -maxdepth 6 -path '/tmp/pytest-of-*' -prune -o -type d -name cifar-10-batches-py -print 2>/dev/null | head -1)
if [ -n "$cifar" ]; then
    echo "CIFAR-10 found at $cifar"
    boxed 150 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --data-dir "$(dirname "$cifar")" --max-epochs 30
else
    echo "no CIFAR-10 on this machine: the epoch time of part 2's run on CIFAR-sized noise"
    boxed 90 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --accuracy-data random --max-epochs 3
    echo "the same on the usual step (CVSTUDIO_CUDA_GRAPHS=0), for the recorded step's gain under one-cycle"
    CVSTUDIO_CUDA_GRAPHS=0 boxed 60 $PY benchmarks/gpu.py --images 512 --trials 1 --epochs 1 --accuracy-data random --max-epochs 2
fi

step "6. torch.compile of our model (last: compiling takes minutes; on this project's CPU it was slower)"
boxed 150 $PY benchmarks/gpu.py --skip-accuracy --trials 1 --compile

echo
if [ -s "$SKIPPED" ]; then
    echo "=== not run, out of the ${BUDGET_S} s budget:"
    sed 's/^/  /' "$SKIPPED"
fi
echo "=== done ($(date +%T), $((SECONDS - STARTED)) s)"
