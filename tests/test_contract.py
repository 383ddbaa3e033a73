"A new system is one module in a package of its own: memlab finds it through the `memlab.systems` entry point group, untouched."
import os, subprocess, sys
from pathlib import Path
from conftest import ROOT

BIN = Path(sys.executable).parent

TOY = '''
"A toy system shipped in a package of its own: a GRU plus a memory vector carried across calls."
import torch
from torch import nn
from memlab.core import register
from memlab.state import State
from memlab.systems.interface import Output, SequenceModel, TiedEmbedding

@register('system', 'toy')
class Toy(SequenceModel):
    "GRU language model whose state also holds `mem`, a running mean of its hidden states (read at the next call)."
    def __init__(self, vocab_size: int, d_model: int = 16):
        super().__init__()
        self.embed = TiedEmbedding(vocab_size, d_model)
        self.rnn, self.read = nn.GRU(d_model, d_model, batch_first=True), nn.Linear(d_model, d_model)
        self._probe = {}
    def init_state(self, batch_size, device=None):
        d = self.config['d_model']
        return State(h=torch.zeros(batch_size, d, device=device), mem=torch.zeros(batch_size, d, device=device))
    def forward(self, tokens, state=None):
        state = state if state is not None and 'mem' in state else self.init_state(tokens.shape[0], tokens.device)
        y, h = self.rnn(self.embed(tokens) + self.read(state['mem'])[:, None], state['h'][None].contiguous())
        mem = 0.5 * state['mem'] + 0.5 * y.mean(1)
        self._probe = {'memory.usage': mem[0].detach().abs(), 'scan.state_norm': h[:, 0].detach().norm(dim=-1)}
        return Output(self.embed.logits(y), State(h=h[0], mem=mem))
    def probe(self): return dict(self._probe)
'''

CHECK = '''
import json, sys
from pathlib import Path
import memlab.core as core
from memlab.harness import Task, run_harness
from memlab.score import CONTROLS
from memlab.tasks import recall_episodes
from memlab.telemetry import Recorder
from memlab.dashboard import view_figures
from memlab.train import train
out = {'systems': core.names('system')}
ds = run_harness(['toy'], [Task('recall', train=lambda s: recall_episodes(64, seed=s),
                                test=lambda s: {'recall': recall_episodes(32, seed=100 + s)},
                                fit=dict(max_steps=4, batch_size=8, warmup_steps=1))], controls=CONTROLS, progress=False)
r = ds.result.sel(system='toy', task='recall')
out['controls'] = {str(c): float(r.sel(control=c, metric='accuracy').mean()) for c in ds.control.values}
out['causal_change'] = float(r.sel(metric='causal_change').max())
rec = Recorder(every=1)
train('toy', 'tinyshakespeare', runs_dir=Path(sys.argv[1]), hooks=[rec], max_steps=3, minutes=None, eval_every=10**9,
      eval_tokens=256, batch_size=4, seq_len=16, progress=False)
rec.close()
out['views'] = {v: sorted(view_figures(rec.dataset(), v)) for v in ('training', 'memory')}
from memlab.dream import DreamCycle
from memlab.harness import build
ep = recall_episodes(24, seed=3)
cycle = DreamCycle(steps=2, rem_steps=1, batch_size=4, check_rows=8).remember(ep.inputs, ep.labels)
out['dream'] = cycle.dream(build('toy', ep.vocab_size, 0))
print(json.dumps(out))
'''

def _toy_package(tmp: Path) -> dict:
    "The toy module and its distribution metadata (an entry point in group memlab.systems) on a path of its own."
    site = tmp/'site'
    (site/'memlab_toy-0.1.dist-info').mkdir(parents=True)
    (site/'memlab_toy.py').write_text(TOY)
    (site/'memlab_toy-0.1.dist-info'/'METADATA').write_text('Metadata-Version: 2.1\nName: memlab-toy\nVersion: 0.1\n')
    (site/'memlab_toy-0.1.dist-info'/'entry_points.txt').write_text('[memlab.systems]\ntoy = memlab_toy\n')
    return {**os.environ, 'PYTHONPATH': str(site), 'MEMLAB_RUNS_DIR': str(tmp/'runs')}

def run(args, env, cwd):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)

def test_toy_system_from_its_own_package(tmp_path):
    import json
    env = _toy_package(tmp_path)
    before = set(os.listdir(ROOT/'memlab')) | set(os.listdir(ROOT/'memlab'/'systems'))
    r = run([BIN/'memlab', 'train', '--help'], env, tmp_path)
    assert r.returncode == 0 and 'toy' in r.stdout, r.stdout
    r = run([BIN/'memlab', 'train', '--system', 'toy', '--task', 'tinyshakespeare', '--max-steps', '5', '--batch-size', '4',
             '--seq-len', '16', '--set', 'd_model=8'], env, tmp_path)
    assert r.returncode == 0 and 'toy on tinyshakespeare: 5 steps' in r.stdout, r.stdout + r.stderr
    r = run([sys.executable, '-c', CHECK, tmp_path/'runs2'], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert {'lstm', 'transformer', 'braincore', 'toy'} <= set(out['systems'])
    assert sorted(out['controls']) == sorted(['on', 'reset', 'shuffled', 'none'])
    assert all(0 <= a <= 1 for a in out['controls'].values())
    assert out['causal_change'] <= 1e-5
    assert 'training' in out['views']['training'] and 'usage' in out['views']['memory']   # its probes, drawn with no toy-specific code
    assert out['dream']['kind'] == 'dream' and out['dream']['nrem_tokens'] == 2 * 4 * 256   # it dreams, with no toy-specific code
    # nothing in memlab was touched, and without the package memlab does not know `toy`
    assert set(os.listdir(ROOT/'memlab')) | set(os.listdir(ROOT/'memlab'/'systems')) == before
    r = run([BIN/'memlab', 'train', '--system', 'toy'], {**os.environ, 'MEMLAB_RUNS_DIR': str(tmp_path/'runs3')}, tmp_path)
    assert r.returncode == 2 and "unknown system 'toy'" in r.stderr
