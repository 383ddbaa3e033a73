"The exported package stands alone: a wheel installs into a clean venv without the dev extras and runs."
import os, subprocess, sys
from pathlib import Path
from conftest import ROOT

def sh(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, f'{cmd}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r

def test_wheel_in_clean_venv(tmp_path):
    sh(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', tmp_path/'dist', ROOT)
    (wheel,) = (tmp_path/'dist').glob('memlab-*.whl')
    sh(sys.executable, '-m', 'venv', tmp_path/'venv')
    py = tmp_path/'venv'/'bin'/'python'
    # torch first, as the Makefile does — but linked from this environment rather than unpacked again (half a minute of
    # the suite): a directory holding only torch's own packages, on the new venv's path; pip sees it installed and adds its deps
    import torch
    site, linked = Path(torch.__file__).parents[1], tmp_path/'torch-only'
    linked.mkdir()
    for p in site.iterdir():
        if p.name.split('-')[0] in ('torch', 'torchgen', 'functorch'): (linked/p.name).symlink_to(p)
    venv_site = sh(py, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))').stdout.strip()
    Path(venv_site, 'torch-only.pth').write_text(f'{linked}\n')
    sh(py, '-m', 'pip', 'install', '-q', f'torch=={torch.__version__.split("+")[0]}')     # present: only its dependencies come
    sh(py, '-m', 'pip', 'install', '-q', wheel)
    missing = sh(py, '-c', 'import importlib.util as u; print([m for m in ("nbdev", "pytest") if u.find_spec(m)])')
    assert missing.stdout.strip() == '[]'          # no development extras came along
    sh(py, '-c', 'import memlab, memlab.core, memlab.data, memlab.train, memlab.bench, memlab.cli, memlab.dashboard, memlab.systems.baselines')
    assert 'demo' in sh(tmp_path/'venv'/'bin'/'memlab', '--help').stdout
    r = sh(tmp_path/'venv'/'bin'/'memlab', 'train', '--task', 'tinyshakespeare', '--max-steps', '3', '--set', 'd_model=16',
           env={**os.environ, 'MEMLAB_RUNS_DIR': str(tmp_path/'runs')}, cwd=tmp_path)
    assert 'test perplexity' in r.stdout
