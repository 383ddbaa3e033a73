"The `memlab` command as a user runs it: real processes, real files, real errors."
import os, subprocess, sys, json
from pathlib import Path
import pytest

MEMLAB = Path(sys.executable).parent/'memlab'

def run(*args, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([MEMLAB, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=600)

def test_help():
    r = run('--help')
    assert r.returncode == 0 and 'demo' in r.stdout and 'bench' in r.stdout

def test_train_tiny_run(tmp_path):
    r = run('train', '--system', 'lstm', '--task', 'tinyshakespeare', '--max-steps', '20', '--set', 'd_model=32',
            env={'MEMLAB_RUNS_DIR': str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert 'test perplexity' in r.stdout
    (run_dir,) = tmp_path.iterdir()
    res = json.loads((run_dir/'results.json').read_text())
    assert res['steps'] == 20 and res['test']['ppl'] < 65  # better than uniform over 65 characters
    assert {'config.json', 'metrics.jsonl', 'checkpoint.safetensors', 'checkpoint.json'} <= {p.name for p in run_dir.iterdir()}

BAD_INPUT = {
    'unknown system': (['train', '--system', 'brain'], {}, "unknown system 'brain'; choose one of braincore, cache:SYSTEM, clifford"),
    'unknown task': (['train', '--task', 'wikitext3'], {}, "unknown corpus 'wikitext3'; choose one of"),
    'unknown suite': (['bench', 'nope'], {}, "unknown suite 'nope'; choose one of"),
    'bad device': (['train', '--device', 'tpu'], {}, "unknown device 'tpu'; choose one of auto, cpu"),
    'missing data dir': (['train', '--task', 'tinyshakespeare'], {'MEMLAB_DATA_DIR': '/nonexistent/memlab-data'}, 'does not exist'),
    'bad sweep param': (['sweep', '--task', 'tinyshakespeare', '--param', 'lr=lgo:1e-4:1e-2'], {},
                        "unknown distribution 'lgo' in 'lr=lgo:1e-4:1e-2'; choose one of log, float, int, choice"),
    'unknown demo system': (['demo', '--system', 'brain', '--no-dash'], {}, "unknown system 'brain'"),
}

@pytest.mark.parametrize('case', BAD_INPUT)
def test_bad_input_is_one_clear_paragraph(case, tmp_path):
    args, env, msg = BAD_INPUT[case]
    runs = tmp_path/'runs'
    r = run(*args, '--max-steps', '1', env={'MEMLAB_RUNS_DIR': str(runs), **env})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert msg in r.stderr and 'Traceback' not in r.stderr
    assert r.stderr.startswith('memlab: error: ') and r.stderr.count('\n') == 1
    assert not runs.exists() or not any(runs.iterdir())   # nothing half-written

def test_wrong_checksum(tmp_path):
    (tmp_path/'tinyshakespeare').mkdir()
    (tmp_path/'tinyshakespeare'/'input.txt').write_text('First Citizen:\nnot the real play\n')
    r = run('train', '--task', 'tinyshakespeare', '--max-steps', '1', env={'MEMLAB_DATA_DIR': str(tmp_path), 'MEMLAB_RUNS_DIR': str(tmp_path/'runs')})
    assert r.returncode == 2 and 'fails its checksum' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'runs').exists()

def test_unreadable_settings(tmp_path):
    bad = tmp_path/'settings.ini'
    bad.write_text('this is not an ini file\n')
    r = run('train', '--max-steps', '1', env={'MEMLAB_SETTINGS': str(bad)})
    assert r.returncode == 2 and 'not valid INI' in r.stderr and str(bad) in r.stderr


def test_help_lists_what_is_registered():
    from memlab.core import names
    r = run('train', '--help')
    assert r.returncode == 0 and all(n in r.stdout for n in names('system') + names('corpus')), r.stdout
    r = run('systems')
    assert r.returncode == 0 and all(f'{n} — ' in r.stdout for n in names('system')), r.stdout
    assert 'seed 004' in r.stdout and 'embedding +' in r.stdout


def _story(lines=400):
    return ''.join(f'the {w} sat on the {v} mat and the {v} {w} saw it\n' for w, v in
                   zip(['cat', 'dog', 'owl', 'fox', 'hen'] * lines, ['red', 'old', 'big', 'wet'] * lines))[:lines * 60]


def test_train_on_your_own_text(tmp_path):
    "A folder of plain text with its own splits trains and reports perplexity; one file is split 90/5/5 by lines, and says so."
    folder = tmp_path/'my corpus'; folder.mkdir()
    for name, n in (('train.txt', 300), ('valid.txt', 40), ('test.txt', 40)): (folder/name).write_text(_story(n))
    small = ['--batch-size', '4', '--seq-len', '16', '--set', 'd_model=16']
    r = run('train', '--system', 'lstm', '--task', f'text:{folder}', *small, '--max-steps', '30', env={'MEMLAB_RUNS_DIR': str(tmp_path/'runs')})
    assert r.returncode == 0, r.stderr
    assert 'test perplexity' in r.stdout and f'splits train.txt, valid.txt, test.txt of {folder}' in r.stdout
    (run_dir,) = (tmp_path/'runs').iterdir()
    res = json.loads((run_dir/'results.json').read_text())
    assert res['corpus'] == f'text:{folder}' and res['test']['ppl'] < 16    # 16 words, <eos>, <unk>: uniform would be 18
    (tmp_path/'book.txt').write_text(_story(400))
    r = run('train', '--system', 'transformer', '--task', f'text-bpe:{tmp_path}/book.txt', *small, '--max-steps', '8', env={'MEMLAB_RUNS_DIR': str(tmp_path/'runs2')})
    assert r.returncode == 0, r.stderr
    assert 'split 90/5/5 by lines, in order: train 1–' in r.stdout and 'test perplexity' in r.stdout


OWN_TEXT = {
    'missing': (lambda d: d/'nowhere', 'does not exist'),
    'empty': (lambda d: (d/'empty.txt').write_text('\n \n') and d/'empty.txt', 'is empty'),
    'not utf-8': (lambda d: (d/'latin1.txt').write_bytes('caf\xe9\n'.encode('latin-1') * 50) and d/'latin1.txt', 'is not UTF-8 text: byte 3'),
    'split missing': (lambda d: (d/'train.txt').write_text('a b\n' * 50) and d, 'has train.txt but not valid.txt, test.txt'),
    'placeholder': (lambda d: 'PATH', "corpus 'text:PATH' names a family: replace PATH with a value"),
    'tiny test split': (lambda d: (d/'notes.txt').write_text('a b c\n' * 19 + '\n') and d/'notes.txt', 'the test split of text:'),
}


@pytest.mark.parametrize('case', OWN_TEXT)
def test_your_own_text_errors_are_one_paragraph(case, tmp_path):
    make, msg = OWN_TEXT[case]
    (data := tmp_path/'data').mkdir()
    runs = tmp_path/'runs'
    r = run('train', '--task', f'text:{make(data)}', '--max-steps', '1', env={'MEMLAB_RUNS_DIR': str(runs)})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert msg in r.stderr and 'Traceback' not in r.stderr
    assert r.stderr.startswith('memlab: error: ') and r.stderr.count('\n') == 1
    assert not runs.exists()                                   # nothing was created


def test_sweep_from_the_command_line(tmp_path):
    r = run('sweep', '--system', 'lstm', '--task', 'tinyshakespeare', '--param', 'lr=log:1:30', '--param', 'd_model=choice:16,32',
            '--trials', '2', '--max-steps', '4', '--batch-size', '4', '--seq-len', '16', '--name', 'cli', env={'MEMLAB_RUNS_DIR': str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert '2 of 2 trials complete' in r.stdout and f"saved in {tmp_path/'sweeps'/'cli'}" in r.stdout
    assert {'results.nc', 'leaderboard.md', 'figure.html'} <= {p.name for p in (tmp_path/'sweeps'/'cli').iterdir()}

def test_user_memory_commands(tmp_path):
    "`memlab train --system livemem`, then ingest, ask and forget with its run folder: files made, a question writes nothing, a wipe leaves nothing."
    runs, users = tmp_path/'runs', tmp_path/'users'
    r = run('train', '--system', 'livemem', '--task', 'tinyshakespeare', '--max-steps', '4', '--batch-size', '4', '--seq-len', '64',
            '--set', 'd_model=32', '--set', 'key_dim=16', '--set', 'ring=8', env={'MEMLAB_RUNS_DIR': str(runs)})
    assert r.returncode == 0, r.stderr
    (model,) = runs.iterdir()
    (tmp_path/'diary.txt').write_text('First Citizen:\nBefore we proceed any further, hear me speak.\n' * 20)
    r = run('ingest', '--model', str(model), '--user', 'alice', '--users', str(users), str(tmp_path/'diary.txt'))
    assert r.returncode == 0 and 'ingested 1,220 symbols for alice' in r.stdout, r.stderr
    assert '4 symbols waiting for the next call' in r.stdout, r.stdout          # 1,220 = 19 calls of 64 (its seq-len) + 4
    files = sorted(p.name for p in (users/'alice').iterdir())
    assert {'state.safetensors', 'L2.trace'} <= set(files), files
    before = {p: p.read_bytes() for p in (users/'alice').iterdir()}
    r = run('ask', '--model', str(model), '--user', 'alice', '--users', str(users), '--max-new', '5', 'First Citizen:')
    assert r.returncode == 0 and len(r.stdout.rstrip('\n')) <= 5, (r.stdout, r.stderr)
    assert {p: p.read_bytes() for p in (users/'alice').iterdir()} == before
    r = run('ask', '--model', str(model), '--user', 'bob', '--users', str(users), 'hi')
    assert r.returncode == 2 and "user 'bob' has no memory" in r.stderr, r.stderr
    r = run('forget', '--user', 'alice', '--users', str(users))
    assert r.returncode == 0 and f'removed {len(files)} files' in r.stdout, r.stdout
    assert not (users/'alice').exists()
