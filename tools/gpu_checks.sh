#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one command for a lent device (a session's `run`, 15 device-minutes in all).
# Here, once per session, in the repository root (`.gpu/` must be git-ignored, e.g. `echo /.gpu/ >> .git/info/exclude`):
#   mkdir -p .gpu/whl .gpu/data && cp -r ../shared/data/* .gpu/data/
#   .venv/bin/python -m pip download -q --no-deps -d .gpu/whl fastcore plotly h5netcdf
#   .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w .gpu/whl .      # memlab as it is now
# There: run `bash tools/gpu_checks.sh perf` (estimated 4 min, not yet run as a whole) or `... lm` (estimated 7 min) with carry [".gpu"].
# Each leaderboard is copied to $OUT as soon as it is written (at most 8 files come back), so a timeout loses only the step it cut.
part=${1:-perf}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site MEMLAB_DATA_DIR=$PWD/.gpu/data PYTHONUNBUFFERED=1 MEMLAB_HOME=/tmp/memlab-home
cd /tmp && mkdir -p runs
bench() {   # bench NAME SECONDS SUITE ARGS...: one suite, its log's tail printed, its leaderboard copied to $OUT/NAME.md
    local name=$1 limit=$2; shift 2
    echo "== $name $(date +%T)"
    timeout "$limit" python3 -m memlab.cli bench "$@" --set out_dir=/tmp/runs/$name > /tmp/runs/$name.log 2>&1
    echo "exit $?"; grep -v -i warn /tmp/runs/$name.log | tail -4
    cp /tmp/runs/$name/leaderboard.md "$OUT/$name.md" 2>/dev/null
}
case $part in
perf)   # #18 (braincore) and #15 (titans): tokens/s, host launches and GPU kernels per step, eager and captured in a CUDA graph
    bench perf256 120 perf --systems transformer,braincore,titans,lstm --batch-size 16 --seq-len 256 --set precision=bf16 --set graph=True
    bench perf4096 120 perf --systems transformer,braincore,lstm --batch-size 4 --seq-len 4096 --set precision=bf16 --set graph=True
    bench titans 60 titans --set parts=overhead --set rounds=3 ;;
lm)     # #19: the baselines' full recipes (6 epochs each; the LSTM trained in 207 s on an H200, then scores test, valid and its cache)
    bench lm_transformer 420 lm --systems transformer --recipe full &
    bench lm_lstm 420 lm --systems lstm --recipe full &
    wait ;;
*) echo "unknown part '$part'; choose one of perf, lm"; exit 2 ;;
esac
