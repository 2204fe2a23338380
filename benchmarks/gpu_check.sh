#!/usr/bin/env bash
# The engine's GPU checks and figures in one run, on one CUDA device (H100/H200 class).
#
#   bash benchmarks/gpu_check.sh            # writes its JSON figures to $OUT (default /tmp/twinkle-gpu)
#   STAGES="tests packed" bash benchmarks/gpu_check.sh   # some stages only (a device call is 10 min)
#
# Stages, in order (STAGES, default all: tests fused packed 7b):
# - tests: tests/gpu: bf16 training on the Qwen2.5-0.5B shape, run isolation, fused pass = each run alone,
#    packed rows = padded rows; the vLLM sampler backend end to end (test_vllm_sampler_gpu.py),
#    skipped without vllm. vLLM pins its own torch: with VLLM_PYTHON=/path/to/python (a venv that
#    has vllm and this project's server packages) that test runs under it. docs/gpu.md: carrying
#    vLLM to a machine without internet.
# - fused: 0.5B shape, 4 tenants x bs8x512: plain peft (one after another), the engine round robin, fused,
#    and the tenants at once through HTTP + client; and what one fused pass saves against each
#    tenant's own pass (pass_scaling.py), with the fused step's top kernels (--profile).
# - packed: 0.5B shape, 4 tenants x bs8 of 64..512 tokens: plain peft, fused with rows padded, fused packed;
#   and one pass of 8 tenants' rows of 60..512 tokens, padded against packed, in turns (packing.py).
# - 7b: 7B shape, 1 tenant at bs8x1024: plain peft, the engine in-process, and through HTTP + client;
#    then the engine and HTTP again with activation checkpointing (the 45 GB peak target), and that
#    step's top kernels and peak memory (pass_scaling.py --profile): where the time goes.
#
# Needs torch, transformers, peft, httpx, attrs, pytest; the HTTP rows also need the server's own
# packages (fastapi, uvicorn, pydantic, sqlalchemy, datasets, plotly...). Where the machine lacks
# them (the lent GPU machines do), `bash benchmarks/device_wheels.sh` downloads them beforehand into
# .whl/, which this installs first when it is there. PYTHON names the interpreter (default python3).
# Every model is random-initialised from a config with the real shapes: nothing is downloaded.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/twinkle-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/twinkle-site \
        .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/twinkle-site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:$PWD/generated:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
STAGES=${STAGES:-tests fused packed 7b}
status=0
stage() { [[ " $STAGES " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || status=1
if ! stage tests; then
    :
elif [ -n "${VLLM_PYTHON:-}" ]; then
    "$PY" -m pytest -q -rs -m gpu tests/gpu -p no:cacheprovider \
        --ignore=tests/gpu/test_vllm_sampler_gpu.py || status=1
    "$VLLM_PYTHON" -m pytest -q -rs -m gpu tests/gpu/test_vllm_sampler_gpu.py -p no:cacheprovider || status=1
else
    "$PY" -m pytest -q -rs -m gpu tests/gpu -p no:cacheprovider || status=1
fi
stage fused && { "$PY" benchmarks/multitenant.py --model 0.5b --tenants 4 --batch 8 --seq 512 --steps 10 \
    --modes peft,round-robin,fused,http --json "$OUT/qwen05b-4x-bs8x512.json" || status=1
    "$PY" benchmarks/pass_scaling.py --model 0.5b --runs 4 --batch 8 --seq 512 --steps 6 --profile || status=1; }
stage packed && { "$PY" benchmarks/multitenant.py --model 0.5b --tenants 4 --batch 8 --seq 512 --min-seq 64 \
    --steps 10 --modes peft,fused-padded,fused --json "$OUT/qwen05b-4x-bs8x64-512.json" || status=1
    "$PY" benchmarks/packing.py --model 0.5b --device cuda --lengths 512,64,200,96,300,60,128,400 || status=1; }
stage 7b && { "$PY" benchmarks/multitenant.py --model 7b --tenants 1 --batch 8 --seq 1024 --steps 5 \
    --modes peft,fused,http --json "$OUT/qwen7b-1x-bs8x1024.json" || status=1
    "$PY" benchmarks/multitenant.py --model 7b --tenants 1 --batch 8 --seq 1024 --steps 5 \
    --modes fused,http --activation-checkpointing --json "$OUT/qwen7b-1x-bs8x1024-ckpt.json" || status=1
    "$PY" benchmarks/pass_scaling.py --model 7b --runs 1 --batch 8 --seq 1024 --steps 3 \
    --activation-checkpointing --profile || status=1; }
exit $status
