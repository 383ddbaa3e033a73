"Execute every notebook (cells flagged in tst_flags skipped): one test per notebook."
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)
SKIP = get_config(ROOT).tst_flags.split()

def test_skip_flags():
    assert SKIP == ['notest', 'slow', 'gpu', 'live']

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NOTEBOOKS])
def test_notebook(nb):
    ok, _ = run_notebook(nb, skip_flags=SKIP, showerr=True)
    assert ok, f'{nb.name} failed; its traceback is above'
