"Faults a careful user meets: every one ends in one paragraph and an honest exit status, with nothing lost or left half-written."
import json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent
TINY = ['--system', 'lstm', '--corpus', 'tinyshakespeare', '--batch-size', '4', '--seq-len', '16', '--set', 'd_model=16']
# as root the kernel lets every file be read and written; dropping these capabilities makes permissions bite again
UNPRIVILEGED = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search']

def unprivileged() -> list:
    "A command prefix under which file permissions apply (as root: without the override capabilities), or skip saying why."
    if os.geteuid() != 0: return []
    if shutil.which('setpriv') is None or subprocess.run([*UNPRIVILEGED, 'true'], capture_output=True).returncode != 0:
        pytest.skip('running as root, and setpriv cannot drop CAP_DAC_OVERRIDE here, so no file is unreadable to this test')
    return UNPRIVILEGED

def memlab(*args, env=None, cwd=None, prefix=(), timeout=600):
    e = {**os.environ, **(env or {})}
    return subprocess.run([*prefix, BIN/'memlab', *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)

def one_paragraph(r, status: int, *says: str):
    "The run ended with `status` and, as the last line on stderr (after any progress bar), one `memlab:` line that says all of `says`; no traceback."
    assert r.returncode == status, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    said = [line for line in r.stderr.splitlines() if line.startswith('memlab')]
    assert 'Traceback' not in r.stderr and len(said) == 1 and r.stderr.rstrip().endswith(said[0]), r.stderr
    for s in says: assert s in said[0], (s, said[0])

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "A tiny finished run with checkpoints at steps 20 and 30 (trained, then resumed)."
    runs = tmp_path_factory.mktemp('runs')
    assert memlab('train', *TINY, '--max-steps', '20', env={'MEMLAB_RUNS_DIR': runs}).returncode == 0
    (run,) = runs.iterdir()
    assert memlab('train', '--resume', run, '--max-steps', '30').returncode == 0
    return run

def copy_run(run: Path, tmp: Path) -> Path:
    shutil.copytree(run, tmp/run.name); return tmp/run.name

# 1, 7, 9: bad input is refused before anything is created, in one paragraph naming the value and the choices
BAD = {
    'max-steps 0': (['--max-steps', '0'], 'max_steps must be >= 1'),
    'max-steps -5': (['--max-steps', '-5'], 'max_steps must be >= 1'),
    'minutes 0': (['--minutes', '0'], 'minutes must be a finite number > 0'),
    'minutes -1': (['--minutes', '-1'], 'minutes must be a finite number > 0'),
    'lr nan': (['--system', 'transformer', '--lr', 'nan', '--max-steps', '1'], 'lr must be a finite number > 0, got nan'),
    'lr -1': (['--system', 'transformer', '--lr', '-1', '--max-steps', '1'], 'lr must be a finite number > 0, got -1'),
    'seed -1': (['--seed', '-1', '--max-steps', '1'], 'seed must be in 0 .. 2**32 - 1, got -1'),
    'd_model 0': (['--set', 'd_model=0', '--max-steps', '1'], 'd_model=0 is out of range; it must be >= 1'),
    'd_model -4': (['--set', 'd_model=-4', '--max-steps', '1'], 'd_model=-4 is out of range'),
    'd_model abc': (['--set', 'd_model=abc', '--max-steps', '1'], "d_model='abc' should be int"),
    'nosuch': (['--set', 'nosuch=1', '--max-steps', '1'], "unknown option for system LSTM 'nosuch'; choose one of d_model, n_layers, dropout"),
    'device from env': (['--max-steps', '1'], "unknown device (set in $MEMLAB_DEVICE) 'tpu'"),
}

@pytest.mark.parametrize('case', BAD)
def test_bad_input_creates_nothing(case, tmp_path):
    args, says = BAD[case]
    runs = tmp_path/'runs'
    r = memlab('train', '--task', 'tinyshakespeare', *args, env={'MEMLAB_RUNS_DIR': runs, **({'MEMLAB_DEVICE': 'tpu'} if 'env' in case else {})})
    one_paragraph(r, 2, 'memlab: error: ', says)
    assert not runs.exists() or not any(runs.iterdir())          # no run folder, not even an empty one
    assert 'training' not in r.stdout                              # nothing announced before the error

def test_unknown_system_is_not_announced(tmp_path):
    r = memlab('train', '--system', 'nosuch', env={'MEMLAB_RUNS_DIR': tmp_path})
    one_paragraph(r, 2, "unknown system 'nosuch'")
    assert r.stdout == ''

# 5, 7: settings files
def test_settings_faults(tmp_path):
    f = tmp_path/'settings.ini'
    f.write_bytes(b'[memlab]\nruns_dir = caf\xe9\n')
    one_paragraph(memlab('train', '--max-steps', '1', env={'MEMLAB_SETTINGS': f}), 2, 'is not UTF-8 text (byte 0xe9')
    f.write_text('[memlab]\nruns_dir = runs\n'); f.chmod(0)
    one_paragraph(memlab('train', '--max-steps', '1', env={'MEMLAB_SETTINGS': f}, prefix=unprivileged()), 2, f'{f} cannot be read (Permission denied)')
    f.chmod(0o644); f.write_text(f'[memlab]\nruns_dir = {tmp_path}/runs-100%\ndata_dir = {os.environ["MEMLAB_DATA_DIR"]}\n')
    env = {k: v for k, v in os.environ.items() if k != 'MEMLAB_DATA_DIR'}
    r = subprocess.run([BIN/'memlab', 'train', *TINY, '--max-steps', '2', ], capture_output=True, text=True,
                       env={**env, 'MEMLAB_SETTINGS': str(f)}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]                     # a `%` is just a character
    assert len(list((tmp_path/'runs-100%').iterdir())) == 1

def test_runs_dir_unusable(tmp_path):
    (tmp_path/'afile').write_text('x')
    one_paragraph(memlab('train', *TINY, '--max-steps', '1', env={'MEMLAB_RUNS_DIR': tmp_path/'afile'}), 2, 'cannot create a run folder under')
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o555)
    one_paragraph(memlab('train', *TINY, '--max-steps', '1', env={'MEMLAB_RUNS_DIR': ro}, prefix=unprivileged()), 2,
                  'cannot create a run folder under', 'Permission denied')

# 2: Ctrl-C and SIGTERM stop at a step boundary, checkpoint, and the resumed run equals an uninterrupted one
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupt_checkpoints_and_resumes_identically(sig, tmp_path):
    big = ['--system', 'lstm', '--corpus', 'tinyshakespeare', '--batch-size', '16', '--seq-len', '64', '--set', 'd_model=64']   # steps slow enough that the signal lands mid-run
    straight = memlab('train', *big, '--max-steps', '300', env={'MEMLAB_RUNS_DIR': tmp_path/'a'})
    assert straight.returncode == 0, straight.stderr
    runs = tmp_path/'b'
    p = subprocess.Popen([BIN/'memlab', 'train', *big, '--max-steps', '300'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'MEMLAB_RUNS_DIR': str(runs)})
    deadline = time.time() + 300
    while time.time() < deadline:                                  # wait until it has trained (metrics logged at step 10)
        m = list(runs.glob('*/metrics.jsonl'))
        if m and m[0].read_text().strip(): break
        time.sleep(0.05)
    p.send_signal(sig)
    try: out, err = p.communicate(timeout=300)
    finally: p.kill()
    assert p.returncode == 128 + sig, (p.returncode, err)
    assert f'interrupted by {signal.Signals(sig).name} at step' in err and 'resume with `memlab train --resume' in err and 'Traceback' not in err
    (run,) = runs.iterdir()
    step = int(err.split(' at step ')[1].split(':')[0])
    assert 10 <= step < 300 and (run/'checkpoints'/f'step-{step:08d}').is_dir()
    r = memlab('train', '--resume', run)
    assert r.returncode == 0, r.stderr
    a = json.loads(next((tmp_path/'a').glob('*/results.json')).read_text())
    b = json.loads((run/'results.json').read_text())
    assert b['steps'] == 300 and abs(a['test']['ppl'] - b['test']['ppl']) <= 1e-6 * a['test']['ppl'], (a['test'], b['test'])
    la = [json.loads(l) for l in next((tmp_path/'a').glob('*/metrics.jsonl')).read_text().splitlines()]
    lb = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines()]
    loss = lambda ls: {x['step']: x['loss'] for x in ls if 'loss' in x}
    assert loss(la).keys() == loss(lb).keys() and all(abs(loss(la)[s] - loss(lb)[s]) <= 1e-6 for s in loss(la))

# 3: one writer per run folder
def test_two_writers_of_one_run(tmp_path):
    runs = tmp_path/'runs'
    first = subprocess.Popen([BIN/'memlab', 'train', '--system', 'lstm', '--task', 'tinyshakespeare', '--batch-size', '16', '--seq-len', '64',
                              '--set', 'd_model=128', '--max-steps', '1000000'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, 'MEMLAB_RUNS_DIR': str(runs)})
    try:
        deadline = time.time() + 120
        while not list(runs.glob('*/config.json')) or str(first.pid) not in (next(runs.iterdir())/'.lock').read_text():
            assert time.time() < deadline and first.poll() is None, 'the first run did not start training'
            time.sleep(0.05)
        run = next(runs.iterdir())
        second = memlab('train', '--resume', run, '--max-steps', '1000000')
        assert first.poll() is None                                  # the first was still training
        one_paragraph(second, 2, f'run folder {run} is in use by process {first.pid}')
        first.send_signal(signal.SIGINT); first.communicate(timeout=300)
        assert first.returncode == 130
    finally: first.kill()
    steps = [json.loads(l)['step'] for l in (run/'metrics.jsonl').read_text().splitlines() if 'loss' in json.loads(l)]
    assert len(steps) == len(set(steps)), 'a step was logged twice'

# a dream killed by SIGKILL: the last checkpoint is intact and the run resumes from it
def test_sigkill_mid_dream_leaves_a_resumable_run(tmp_path):
    from memlab.train import intact_checkpoint, read_checkpoint
    runs = tmp_path/'runs'
    p = subprocess.Popen([BIN/'memlab', 'train', *TINY, '--max-steps', '40', '--set', 'checkpoint_every=10', '--set', 'dream_every=20',
                          '--set', 'dream_steps=100000'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'MEMLAB_RUNS_DIR': str(runs)})
    try:
        deadline = time.time() + 300
        while not any('dream_start' in m.read_text() for m in runs.glob('*/metrics.jsonl')):
            assert time.time() < deadline and p.poll() is None, ('the run did not start dreaming', p.poll())
            time.sleep(0.05)
        time.sleep(1.0)                                               # well inside the dream (100,000 steps)
        p.send_signal(signal.SIGKILL); p.communicate(timeout=60)
    finally: p.kill()
    assert p.returncode == -signal.SIGKILL
    (run,) = runs.iterdir()
    lines = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines()]
    assert [l['step'] for l in lines if 'dream_start' in l] == [20] and not any('dream' in l for l in lines), 'killed mid-dream'
    last = intact_checkpoint(run)
    assert last is not None and last.name == 'step-00000010', last
    read_checkpoint(last)                                             # loads, checksums verified
    r = memlab('train', '--resume', run, '--max-steps', '15')
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run/'results.json').read_text())['steps'] == 15

# 4, 6, 8: damaged checkpoints are refused by name; resuming falls back to the newest intact one
def test_corrupt_newest_checkpoint_falls_back(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    new = run/'checkpoints'/'step-00000030'
    raw = bytearray((new/'weights.safetensors').read_bytes())
    i = raw.index(b'F32'); raw[i:i + 3] = b'I32'                     # a dtype rewritten in the header
    (new/'weights.safetensors').write_bytes(bytes(raw))
    r = memlab('train', '--resume', run, '--max-steps', '40')
    assert r.returncode == 0, r.stderr
    assert 'resuming from step-00000020, not the newer step-00000030' in r.stderr and 'is corrupt' in r.stderr
    assert json.loads((run/'results.json').read_text())['steps'] == 40
    assert (run/'checkpoints'/'corrupt-step-00000030').is_dir() and (run/'checkpoints'/'step-00000020').is_dir()   # kept: not pruned
    r = memlab('train', '--resume', run/'checkpoints'/'step-00000040', '--max-steps', '45')   # a checkpoint folder resumes too
    assert r.returncode == 0 and json.loads((run/'results.json').read_text())['steps'] == 45, r.stderr

def test_flipped_weight_is_refused(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    for ck in (run/'checkpoints').iterdir():
        if ck.is_dir():
            raw = bytearray((ck/'weights.safetensors').read_bytes()); raw[-3] ^= 0x7f; (ck/'weights.safetensors').write_bytes(bytes(raw))
    one_paragraph(memlab('train', '--resume', run, '--max-steps', '40'), 2, 'no intact checkpoint in', 'is corrupt: its sha256 differs')

@pytest.mark.parametrize('damage', ['counters', 'missing', 'mistyped', 'unknown train key'])
def test_damaged_json_is_refused(damage, finished, tmp_path):
    run = copy_run(finished, tmp_path)
    cks = sorted(p for p in (run/'checkpoints').iterdir() if p.is_dir())
    if damage == 'unknown train key':
        c = json.loads((run/'config.json').read_text()); c['train']['colour'] = 'red'; (run/'config.json').write_text(json.dumps(c))
        one_paragraph(memlab('train', '--resume', run), 2, "unknown training setting in", "'colour'")
        return
    for ck in cks:
        m = json.loads((ck/'checkpoint.json').read_text())
        if damage == 'counters': m['counters'].update(cfg=None, run_dir='/')
        elif damage == 'missing': del m['world_size']
        else: m['counters']['step'] = 'thirty'
        (ck/'checkpoint.json').write_text(json.dumps(m))
    one_paragraph(memlab('train', '--resume', run, '--max-steps', '40'), 2, 'checkpoint.json is damaged')

# 7: a damaged telemetry store under `memlab dash`
def test_dash_on_damaged_telemetry(tmp_path):
    store = tmp_path/'run'/'telemetry.zarr'
    (store/'step').mkdir(parents=True)
    (store/'.zgroup').write_text('{"zarr_format": 2}'); (store/'step'/'.zarray').write_text('{broken')
    one_paragraph(memlab('dash', tmp_path/'run', '--port', '0'), 2, 'is unreadable')

# 7: a full disk, at the start and in the middle of a run (a small tmpfs; mounting needs root)
@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0: pytest.skip('mounting a tmpfs to fill needs root')
    mnt = tmp_path/'disk'; mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], capture_output=True).returncode != 0:
        pytest.skip('this machine does not let the tests mount a tmpfs')
    yield mnt
    subprocess.run(['umount', '-l', mnt])

def fill(mnt: Path, leave: int):
    "Take all but `leave` bytes of the small disk."
    free = shutil.disk_usage(mnt).free
    (mnt/'filler').write_bytes(b'\0' * max(free - leave, 0))

# d_model 64 (measured): best weights 284 kB; a checkpoint 284 kB of weights + 588 kB of optimizer, memory and RNG state
@pytest.mark.parametrize('when, leave, file', [('start', 0, 'runs'), ('best weights', 40_000, 'checkpoint.safetensors'),
                                               ('checkpoint', 420_000, 'checkpoints/step-')])
def test_disk_full(when, leave, file, small_disk):
    runs = small_disk/'runs'; runs.mkdir()
    fill(small_disk, leave)
    r = memlab('train', *TINY[:-1], 'd_model=64', '--max-steps', '3', env={'MEMLAB_RUNS_DIR': runs})
    one_paragraph(r, 1, 'No space left on device', 'free some space', file)
    debris = [p for p in runs.rglob('*') if p.name.endswith('.tmp')]
    assert debris == [], debris                                    # no half-written file or folder
    if when == 'start': assert list(runs.iterdir()) == []          # nothing left of a run that never trained

# 10: torchrun workers end cleanly (a repeated run; `python tools/torchrun_repeat.py 50` is the benchmark)
def test_torchrun_train_exits_cleanly(tmp_path):
    for i in range(3):
        r = subprocess.run([BIN/'torchrun', '--standalone', '--nproc_per_node=2', '-m', 'memlab.cli', 'train', *TINY, '--max-steps', '4'],
                           capture_output=True, text=True, env={**os.environ, 'MEMLAB_RUNS_DIR': str(tmp_path/str(i)), 'OMP_NUM_THREADS': '1'},
                           timeout=600)
        assert r.returncode == 0, (i, r.stdout[-2000:], r.stderr[-3000:])
        assert len(list((tmp_path/str(i)).iterdir())) == 1

# 3, 4: one writer per trace file, and a trace file that disagrees with its header is refused
HOLD = '''
import sys, time, torch
from memlab.stores import TraceStore
ts = TraceStore(sys.argv[1], 4, 4)
ts.append(torch.randn(2000, 4), torch.randn(2000, 4))
print('holding', flush=True); time.sleep(float(sys.argv[2])); ts.close()
'''

def test_trace_store_one_writer_and_integrity(tmp_path):
    from memlab.core import LockedError
    from memlab.stores import TraceStore, TraceStoreError
    import torch
    path = tmp_path/'user.trace'
    holder = subprocess.Popen([sys.executable, '-c', HOLD, path, '60'], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'holding'
        with pytest.raises(LockedError, match=re.escape(f'trace store {path} is in use by process {holder.pid}')): TraceStore(path, 4, 4)
    finally: holder.kill(); holder.wait()                            # the lock dies with its holder, even on kill -9
    with TraceStore(path, 4, 4) as ts:
        ts.append(torch.randn(2000, 4), torch.randn(2000, 4))
        assert len(ts) == 2000                                       # the killed writer never flushed: its traces were never counted
    size = path.stat().st_size
    with open(path, 'ab') as f: f.write(b'\0' * 32)                  # more bytes than the header counts
    with pytest.raises(TraceStoreError, match='but its header counts 2,000 traces'): TraceStore(path, 4, 4)
    assert path.stat().st_size == size + 32                          # left untouched
    os.truncate(path, size)
    raw = bytearray(path.read_bytes()); raw[-7] ^= 0x10; path.write_bytes(bytes(raw))
    with pytest.raises(TraceStoreError, match='checksum mismatch'): TraceStore(path, 4, 4)
