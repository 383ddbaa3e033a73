"The Trainer under real failure: a process SIGKILLed mid-checkpoint, then resumed; two real gloo processes under torchrun."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import torch

BIN = Path(sys.executable).parent
TINY = dict(max_steps=40, minutes=None, eval_every=10, eval_tokens=512, batch_size=8, seq_len=32, log_every=1,
            d_model=16, dropout=0.1, progress=False)
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}   # the same arithmetic in every child process

# a training run whose save of the step-20 checkpoint writes half a file and then hangs, waiting to be killed
CHILD = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import memlab.train as T
    real_save, marker = T.save_file, Path(sys.argv[2])
    def slow_save(tensors, path, *a, **kw):
        real_save(tensors, path, *a, **kw)
        if 'step-00000020' in path and path.endswith('train.safetensors'):
            data = Path(path).read_bytes(); Path(path).write_bytes(data[:len(data) // 2])
            marker.write_text('in the middle of the step-20 checkpoint')
            time.sleep(600)
    T.save_file = slow_save
    T.train('lstm', 'tinyshakespeare', runs_dir=sys.argv[1], **KW)
''')

def losses(run_dir: Path) -> dict[int, float]:
    recs = map(json.loads, (run_dir/'metrics.jsonl').read_text().splitlines())
    return {r['step']: r['loss'] for r in recs if 'loss' in r}

def only_run(runs: Path) -> Path:
    (d,) = runs.iterdir()
    return d

def test_sigkill_during_checkpoint_write_then_resume(tmp_path):
    from memlab.train import latest_checkpoint, read_checkpoint
    script, marker = tmp_path/'child.py', tmp_path/'in-save'
    script.write_text(CHILD.replace('KW', repr(TINY)))
    p = subprocess.Popen([sys.executable, script, tmp_path/'runs', marker], env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not marker.exists():
            assert p.poll() is None, f'the child ended before the checkpoint write: {p.stderr.read()[-3000:]}'
            assert time.time() < deadline, 'the child never reached the step-20 checkpoint'
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
    finally:
        if p.poll() is None: p.kill()
        p.wait(); p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    run = only_run(tmp_path/'runs')
    ckpts = run/'checkpoints'
    assert any(d.name.startswith('.step-00000020') for d in ckpts.iterdir())   # the half-written one is there...
    assert latest_checkpoint(run).name == 'step-00000010'                     # ...but the previous one is the latest
    files, meta = read_checkpoint(latest_checkpoint(run))                      # and it loads
    assert meta['step'] == 10 and set(files) == {'weights.safetensors', 'train.safetensors'}

    r = subprocess.run([BIN/'memlab', 'train', '--resume', run], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((run/'results.json').read_text())
    assert res['steps'] == 40 and 'resuming' in r.stdout
    assert not any(d.name.startswith('.') for d in ckpts.iterdir())           # the debris of the crash is gone

    # the killed-and-resumed run has the loss curve of a run that was never interrupted
    r = subprocess.run([sys.executable, '-c', f'import memlab.train as T; T.train("lstm", "tinyshakespeare", runs_dir={str(tmp_path/"straight")!r}, **{TINY!r})'],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = losses(only_run(tmp_path/'straight')), losses(run)
    assert sorted(b) == list(range(1, 41))
    assert max(abs(a[s] - b[s]) for s in a) <= 1e-6, [(s, a[s], b[s]) for s in a if a[s] != b[s]][:5]

DDP_CFG = dict(batch_size=4, seq_len=16, max_steps=8, minutes=None, eval_every=4, eval_tokens=256, eval_batch_size=2, log_every=1)

# two ranks train SharedMemoryLM (a memory shared by the batch, written under no_grad) on different rows
DDP_WORKER = textwrap.dedent('''
    import json, sys, torch, torch.distributed as dist
    from safetensors.torch import save_file
    from memlab.data import tinyshakespeare
    from memlab.distributed import end_worker
    from memlab.systems.shared_memory import SharedMemoryLM
    from memlab.train import Trainer, TrainConfig
    ts = tinyshakespeare()
    torch.manual_seed(0)
    tr = Trainer(SharedMemoryLM(len(ts.vocab), d_model=16), ts, TrainConfig(**CFG), run_dir=sys.argv[1], progress=False)
    x, _ = next(tr.batches())
    res = tr.fit()
    flat = torch.cat([p.detach().flatten() for p in tr.model.parameters()] + [tr.state['mem'].flatten()])
    got = [torch.zeros_like(flat) for _ in range(2)]; dist.all_gather(got, flat)
    rows = [None, None]; dist.all_gather_object(rows, x.tolist())
    out = dict(rank=tr.env.rank, world=res['world_size'], steps=res['steps'], max_diff=(got[0] - got[1]).abs().max().item(),
               mem_norm=tr.state['mem'].norm().item(), same_rows=rows[0] == rows[1],
               unwrapped=tr.net is tr.model)   # no DDP reducer outlives fit (one alive at exit can abort the process)
    open(f'{sys.argv[2]}.rank{tr.env.rank}.json', 'w').write(json.dumps(out))   # not stdout: two ranks' lines can interleave
    if tr.env.is_main: save_file({'flat': flat}, sys.argv[2])
    end_worker()   # finished: results written
''')

def test_ddp_two_gloo_processes_keep_parameters_and_memory_identical(tmp_path):
    (tmp_path/'worker.py').write_text(DDP_WORKER.replace('**CFG', '**' + repr(DDP_CFG)))
    r = subprocess.run([BIN/'torchrun', '--standalone', '--nproc_per_node=2', tmp_path/'worker.py', tmp_path/'run', tmp_path/'flat.st'],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    outs = [json.loads((tmp_path/f'flat.st.rank{i}.json').read_text()) for i in range(2)]
    assert sorted(o['rank'] for o in outs) == [0, 1] and all(o['world'] == 2 and o['steps'] == 8 for o in outs)
    assert not outs[0]['same_rows']                                   # each rank trained on its own rows
    assert outs[0]['mem_norm'] > 0                                    # the shared memory was written
    assert all(o['unwrapped'] for o in outs)
    assert all(o['max_diff'] <= 1e-6 for o in outs), outs             # ...and is identical on both ranks, as are the weights
    run = tmp_path/'run'
    assert {p.name for p in run.iterdir()} >= {'config.json', 'metrics.jsonl', 'checkpoints'}
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['world_size'] == 2
    steps = [json.loads(l)['step'] for l in (run/'metrics.jsonl').read_text().splitlines() if '"loss"' in l]
    assert steps == list(range(1, 9))                                 # one writer: each step logged once
    from memlab.train import read_checkpoint, latest_checkpoint
    files, meta = read_checkpoint(latest_checkpoint(run))
    assert meta['world_size'] == 2 and files['train.safetensors']['state.h'].shape[0] == 8   # both ranks' rows saved

    # the documented semantics: 2 ranks x 4 rows = one process with 8 rows (gradients and shared-memory writes are means)
    from safetensors.torch import load_file
    from memlab.data import tinyshakespeare
    from memlab.systems.shared_memory import SharedMemoryLM
    from memlab.train import Trainer, TrainConfig
    ts = tinyshakespeare()
    torch.manual_seed(0)
    one = Trainer(SharedMemoryLM(len(ts.vocab), d_model=16), ts, TrainConfig(**{**DDP_CFG, 'batch_size': 8}), progress=False)
    one.fit()
    flat = torch.cat([p.detach().flatten() for p in one.model.parameters()] + [one.state['mem'].flatten()])
    diff = (flat - load_file(tmp_path/"flat.st")["flat"]).abs().max().item()
    print("DDP vs one process, max abs diff", diff)
    assert diff <= 1e-5, diff


def test_torchrun_memlab_cli_train(tmp_path):
    "`torchrun --nproc_per_node=2 -m memlab.cli train`: one run folder, written by rank 0, reported once."
    r = subprocess.run([BIN/'torchrun', '--standalone', '--nproc_per_node=2', '-m', 'memlab.cli', 'train', '--system', 'lstm',
                        '--task', 'tinyshakespeare', '--max-steps', '6', '--batch-size', '4', '--seq-len', '16',
                        '--set', 'd_model=16', '--set', 'eval_tokens=512'],
                       capture_output=True, text=True, env={**ENV, 'MEMLAB_RUNS_DIR': str(tmp_path/'runs')}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('test perplexity') == 1
    run = only_run(tmp_path/'runs')
    res = json.loads((run/'results.json').read_text())
    assert res['world_size'] == 2 and res['steps'] == 6 and res['train_tokens'] == 6 * 2 * 4 * 16
