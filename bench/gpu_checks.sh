#!/usr/bin/env bash
# The GPU checks of the ML packages, as one short run on a machine with CUDA and a python3 that
# holds PyTorch (the project's venv is not needed there): both benchmarks on the GPU and the
# inference/training test suites with CUDA picked as the device, then a timed slice of the chest
# starter recipe. Packages missing there (monai, nibabel, pydicom) come as wheels in .whl/.
#
#     OUT=/tmp/gpu bash bench/gpu_checks.sh        # logs under $OUT, tables on stdout
#     GPU_STEPS="inference second_stage" OUT=/tmp/gpu bash bench/gpu_checks.sh   # some steps only
set -u
OUT=${OUT:-/tmp/nodus-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/nodus-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/nodus-site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, monai; print('torch', torch.__version__, 'monai', monai.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO CUDA')" | tee -a "$OUT/gpu.txt"

step() {  # step NAME SECONDS CMD...: run with a time cap, keep its log, go on whatever happens
  local name=$1 cap=$2; shift 2
  echo "=== $name (cap ${cap}s)"
  local t0=$SECONDS
  timeout "$cap" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "rc=$rc in $((SECONDS - t0)) s" | tee -a "$OUT/$name.txt"
  tail -n 25 "$OUT/$name.txt"
}

want() { [[ " ${GPU_STEPS:-all} " == *" all "* || " ${GPU_STEPS:-all} " == *" $1 "* ]]; }

want inference && step inference 100 $PY bench/inference.py --repeat 3
# the same with the weights as MONAI builds them (channels-last is the default on CUDA too)
want inference_plain && NODUS_CHANNELS_LAST=0 step inference_plain 100 $PY bench/inference.py --repeat 3
want inference_sw4 && step inference_sw4 80 $PY bench/inference.py --repeat 3 --sw-batch-size 4
want training && step training 100 $PY bench/training.py --epochs 20
want pytest && step pytest ${PYTEST_CAP:-180} $PY -m pytest tests/inference tests/training -q -ra -p no:cacheprovider \
  -o addopts= --durations=5
want pytest_second_stage && step pytest_second_stage 150 $PY -m pytest -q -ra -p no:cacheprovider \
  -o addopts= --durations=5 tests/inference/test_second_stage.py tests/inference/test_run_inference.py \
  tests/training/test_second_stage_training.py
want starter && step starter ${STARTER_CAP:-100} $PY -m training starter --kind chest-ct \
  --out /tmp/nodus-starter --epochs 40 --n-train 16 --n-eval 4
# The chest recipe's second step (phantoms, blob examples, classifier training, re-scoring the
# held-out ten) on the committed network; its metadata comes back under $OUT.
if want second_stage; then
  rm -rf /tmp/nodus-two-stage && cp -r inference/bundles/chest-ct-nodules /tmp/nodus-two-stage
  step second_stage ${SECOND_STAGE_CAP:-200} $PY -m training starter --kind chest-ct \
    --out /tmp/nodus-two-stage --second-stage-only
  cp /tmp/nodus-two-stage/configs/metadata.json "$OUT/second_stage_metadata.json" 2>/dev/null
fi
