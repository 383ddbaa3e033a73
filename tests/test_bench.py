"`memlab bench smoke` as a user runs it: real training, real files, and controls that cannot leak."
import math, os, subprocess, sys
from pathlib import Path
import xarray as xr

MEMLAB = Path(sys.executable).parent/'memlab'

def test_bench_smoke(tmp_path):
    r = subprocess.run([MEMLAB, 'bench', 'smoke'], capture_output=True, text=True, timeout=900,
                       env={**os.environ, 'MEMLAB_RUNS_DIR': str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    (out,) = (tmp_path/'bench').iterdir()
    assert {'results.nc', 'leaderboard.md', 'leaderboard.html'} <= {p.name for p in out.iterdir()}
    ds = xr.load_dataset(out/'results.nc', engine='h5netcdf')
    assert list(ds.control.values) == ['on', 'reset', 'shuffled', 'none'] and list(ds.seed.values) == [0, 1]
    assert set(ds.system.values) == {'lstm', 'transformer'}
    assert set(ds.task.values) == {'mqar-quick', 'recall-clean', 'recall-noisy', 'wikitext2'}
    res = ds.result
    assert (res.sel(metric='causal_change') <= 1e-5).all()
    assert (res.sel(metric='state_bytes') > 0).all()
    # the answers of a recall episode lie only in earlier segments: without this sequence's memory, chance
    for task in ('recall-clean', 'recall-noisy'):
        chance = float(res.sel(task=task, metric='chance').max())
        n = 200 * 4 * 2                                    # questions per seed x seeds
        for control in ('reset', 'shuffled'):
            acc = float(res.sel(task=task, control=control, metric='accuracy').mean())
            assert abs(acc - chance) < 4 * math.sqrt(chance * (1 - chance) / n), (task, control, acc, chance)
    # a transformer carries nothing between calls, so its no-memory control is itself
    tf = res.sel(system='transformer', metric='accuracy')
    assert (tf.sel(control='none') == tf.sel(control='on')).all()
    md = (out/'leaderboard.md').read_text()
    assert md.count('\n## ') == 4 and 'accuracy on' in md and 'ppl on' in md
    html = (out/'leaderboard.html').read_text()
    assert html.count('class="plotly-graph-div"') >= 4      # controls, memory, distance figures
    assert 'saved in' in r.stdout
