"""Benchmark: run `torchrun --nproc_per_node=2 -m memlab.cli train ...` N times and count the exit statuses.

    python tools/torchrun_repeat.py 50          # what issue "Nothing lost, nothing silent" asks for

A worker that aborts while the interpreter shuts down (the gloo teardown race) shows as status -6 / 134.
"""
import collections, os, subprocess, sys, tempfile, time
from pathlib import Path

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
exe = Path(sys.executable).parent/'torchrun'
cmd = [str(exe), '--standalone', '--nproc_per_node=2', '-m', 'memlab.cli', 'train', '--system', 'lstm', '--corpus', 'tinyshakespeare',
       '--batch-size', '4', '--seq-len', '16', '--set', 'd_model=16', '--max-steps', '4']
counts, t0 = collections.Counter(), time.time()
with tempfile.TemporaryDirectory() as d:
    for i in range(n):
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'MEMLAB_RUNS_DIR': f'{d}/{i}', 'OMP_NUM_THREADS': '1'})
        counts[r.returncode] += 1
        if r.returncode != 0: print(f'run {i}: exit {r.returncode}\n{r.stderr[-1500:]}', flush=True)
        print(f'{i + 1}/{n}: exit {r.returncode}', flush=True)
print(f'{n} runs in {time.time() - t0:.0f} s: ' + ', '.join(f'exit {k}: {v}' for k, v in sorted(counts.items())))
sys.exit(0 if set(counts) == {0} else 1)
