"The notebooks are the source of truth: the package, the cleaned notebooks and the README must follow them."
import filecmp, shutil, subprocess, sys
from pathlib import Path
from conftest import ROOT

BIN = Path(sys.executable).parent

def _copy(tmp):
    for d in ('nbs', 'memlab'): shutil.copytree(ROOT/d, tmp/d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    shutil.copy(ROOT/'pyproject.toml', tmp)
    return tmp

def _diff(a: Path, b: Path) -> list[str]:
    "Files that differ, appear or disappear between trees `a` and `b`."
    files = lambda r: {p.relative_to(r) for p in r.rglob('*') if p.is_file() and '__pycache__' not in p.parts}
    fa, fb = files(a), files(b)
    return sorted(str(p) for p in fa ^ fb) + sorted(str(p) for p in fa & fb if not filecmp.cmp(a/p, b/p, shallow=False))

def test_package_matches_notebooks(tmp_path):
    t = _copy(tmp_path)
    subprocess.run([BIN/'nbdev-export'], cwd=t, check=True)
    assert _diff(ROOT/'memlab', t/'memlab') == [], 'memlab/ differs from what nbdev-export writes: run nbdev-export'

def test_notebooks_are_clean(tmp_path):
    t = _copy(tmp_path)
    subprocess.run([BIN/'nbdev-clean'], cwd=t, check=True)
    assert _diff(ROOT/'nbs', t/'nbs') == [], 'notebooks are not clean: run nbdev-clean'

def test_readme_matches_index():
    r = subprocess.run([sys.executable, ROOT/'tools'/'readme.py', '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_lint():
    "ruff (configured in pyproject.toml) over the exported package and the tests, and through nbqa over every notebook cell (where a test cell may import again what an exported cell did)."
    for cmd in ([BIN/'ruff', 'check', 'memlab', 'tests'], [BIN/'nbqa', 'ruff', 'nbs', '--extend-ignore', 'F811']):
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f'{cmd[0].name} found problems:\n{r.stdout[-4000:]}{r.stderr[-2000:]}'
