"Execute every notebook (cells flagged in tst_flags skipped): one test per notebook."
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)
SKIP = get_config(ROOT).tst_flags.split()

def test_skip_flags():
    assert SKIP == ['notest', 'slow', 'gpu', 'live']

@pytest.fixture
def registry():
    "The registry as memlab's modules fill it, restored after a notebook: a notebook that runs an exported `@register` cell registers its own copy (e.g. of a corpus factory returning the notebook's `Corpus` class), which must not leak into the next notebook run by this worker."
    import memlab.core as core
    for kind in core.REGISTRY: core.discover(kind)
    saved = {k: dict(v) for k, v in core.REGISTRY.items()}
    yield
    for k, v in saved.items(): core.REGISTRY[k].clear(); core.REGISTRY[k].update(v)

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NOTEBOOKS])
def test_notebook(nb, registry):
    ok, _ = run_notebook(nb, skip_flags=SKIP, showerr=True)
    assert ok, f'{nb.name} failed; its traceback is above'
