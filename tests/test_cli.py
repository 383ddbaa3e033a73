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
    'unknown system': (['train', '--system', 'brain'], {}, "unknown system 'brain'; choose one of braincore, clifford"),
    'unknown task': (['train', '--task', 'wikitext3'], {}, "unknown corpus 'wikitext3'; choose one of"),
    'unknown suite': (['bench', 'nope'], {}, "unknown suite 'nope'; choose one of"),
    'bad device': (['train', '--device', 'tpu'], {}, "unknown device 'tpu'; choose one of auto, cpu"),
    'missing data dir': (['train', '--task', 'tinyshakespeare'], {'MEMLAB_DATA_DIR': '/nonexistent/memlab-data'}, 'does not exist'),
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
