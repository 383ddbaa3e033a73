"Gradient-free systems (`kn`, `clifford`) through the real CLI: a run, a resume that continues it exactly, the controls, and clear errors."
import json, os, subprocess, sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}


def memlab(*args, runs: Path | None = None, timeout=600):
    env = {**ENV, 'MEMLAB_RUNS_DIR': str(runs)} if runs else ENV
    return subprocess.run([BIN/'memlab', *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def only_run(runs: Path) -> Path:
    (d,) = [p for p in runs.iterdir() if not p.name.startswith('.')]
    return d


@pytest.mark.parametrize('system,options', [('clifford', ['--set', 'mode=faithful', '--set', 'dream_every=3']),
                                            ('kn', ['--set', 'order=4'])])
def test_train_then_resume_equals_a_straight_run(tmp_path, system, options):
    "6 steps then a resume to 12 leave the same memory (faithful clifford's grows, with dreams every 3 learns) as 12 steps at once."
    common = ['train', '--system', system, '--corpus', 'tinyshakespeare', '--batch-size', '4', '--seq-len', '64', *options]
    r = memlab(*common, '--max-steps', '6', runs=tmp_path/'a')
    assert r.returncode == 0, r.stderr[-3000:]
    run = only_run(tmp_path/'a')
    assert 'test perplexity' in r.stdout and 'parameters: 0 embedding + 0 core' in r.stdout, r.stdout
    r = memlab('train', '--resume', run, '--max-steps', '12')
    assert r.returncode == 0, r.stderr[-3000:]
    r = memlab(*common, '--max-steps', '12', runs=tmp_path/'b')
    assert r.returncode == 0, r.stderr[-3000:]
    straight = only_run(tmp_path/'b')
    ra, rb = (json.loads((d/'results.json').read_text()) for d in (run, straight))
    assert ra['steps'] == rb['steps'] == 12
    last = lambda d: sorted((d/'checkpoints').iterdir())[-1]/'weights.safetensors'
    wa, wb = load_file(str(last(run))), load_file(str(last(straight)))
    assert wa.keys() == wb.keys()
    for k in wa: assert wa[k].shape == wb[k].shape and (wa[k] == wb[k]).all(), k   # (test ppl may differ: each keeps its best-validated memory)


def test_bad_options_are_refused_before_anything_is_written(tmp_path):
    r = memlab('train', '--system', 'clifford', '--corpus', 'tinyshakespeare', '--set', 'mode=holographic', runs=tmp_path)
    assert r.returncode != 0 and "unknown clifford mode 'holographic'; choose one of faithful, superposition" in r.stderr, r.stderr
    r = memlab('train', '--system', 'kn', '--corpus', 'tinyshakespeare', '--set', 'order=0', runs=tmp_path)
    assert r.returncode != 0 and 'order=0 is out of range' in r.stderr, r.stderr
    assert not any(p for p in tmp_path.iterdir() if not p.name.startswith('.')), list(tmp_path.iterdir())


def test_controls_of_a_gradient_free_memory():
    "Reset and shuffled histories cost the n-gram its cross-segment context; the no-memory control (Amnesic) learns without it."
    import torch
    from memlab.data import tinyshakespeare
    from memlab.score import score_stream
    from memlab.systems.ngram import KneserNey
    from memlab.train import Trainer, TrainConfig
    data = tinyshakespeare()
    m = KneserNey(len(data.vocab), order=5)
    Trainer(m, data, TrainConfig.of(m, max_steps=60, eval_tokens=512), progress=False).fit()
    r = score_stream(m, data.test[:20_001], batch_size=4, seq_len=8)
    assert r['on']['ppl'] < r['reset']['ppl'] and r['on']['ppl'] < r['shuffled']['ppl'], r
    assert torch.isfinite(torch.tensor([v['ppl'] for v in r.values()])).all()
