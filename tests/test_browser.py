"""The dashboard in a real browser: a run trained in a process that has exited is replayed by `memlab dash`
(a real server), opened in headless Chromium (the Debian package, driven by Playwright), and every view must
render non-empty Plotly figures. Screenshots land in test-artifacts/<view>.png."""
import contextlib, json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np

import pytest
from conftest import ROOT

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync']
VIEWS = ('training', 'memory', 'attention', 'dreams')
ARTIFACTS = ROOT/'test-artifacts'
os.environ.setdefault('PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD', '1')

# a real short run, in its own process, which exits before the dashboard opens it
TRAIN = """
import sys, torch
torch.set_num_threads(1)
from memlab.core import seed_everything
from memlab.telemetry import Recorder, record
seed_everything(0)
res, rec = record('transformer', 'tinyshakespeare', rec=Recorder(every=5), companion=True, runs_dir=sys.argv[1], max_steps=40, minutes=None,
                  d_model=32, n_layers=2, n_heads=2, batch_size=4, seq_len=32, eval_every=20, eval_tokens=1024, eval_batch_size=32)
print(res['run_dir'])
"""

# every Plotly figure in the shown tab: its trace data and what it drew (Playwright locators pierce Panel's shadow DOM)
PLOT_STATS = """el => ({points: (el._fullData || []).reduce((n, t) => n + (t._length ?? (t.z ? t.z.length : 0) ?? 0), 0),
                        drawn: el.querySelectorAll('.trace, .hm, .heatmaplayer image, .scatterlayer path, .barlayer path').length,
                        width: el.getBoundingClientRect().width})"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _wait_http(url, proc, timeout=150):   # a server starting while the other test worker loads the machine
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise AssertionError(f'memlab dash exited: {proc.stdout.read()}')
        try:
            # each GET of the page makes the server build a whole dashboard session: a short client timeout on a loaded
            # machine queues one build after another and the server never catches up, so wait for the one asked for
            with urllib.request.urlopen(url, timeout=60) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.3)
    raise AssertionError(f'{url} did not answer in {timeout} s')


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp('runs')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', TRAIN, str(runs)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return Path(r.stdout.strip().splitlines()[-1])       # the training process has exited


@contextlib.contextmanager
def served(run: Path):
    "`memlab dash RUN` on a free port, as a real server process; yields its address and stops it afterwards."
    port = _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent/'memlab'), 'dash', str(run), '--port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = f'http://127.0.0.1:{port}/memlab'
    try:
        _wait_http(url, proc)
        yield url
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill()


@contextlib.contextmanager
def opened(run: Path):
    "A headless Chromium page on `memlab dash RUN`, once the dashboard shows its recorded steps."
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    with served(run) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 1000})
            page.goto(url)
            page.get_by_text('recorded steps').first.wait_for(timeout=30_000)
            yield page
        finally: browser.close()


@pytest.fixture(scope='module')
def dash_url(saved_run):
    with served(saved_run) as url: yield url


def show(page, view: str, shot: str):
    "Open the dashboard tab `view`, screenshot it to test-artifacts/`shot`, and require every figure in it to have drawn data."
    page.get_by_text(view, exact=True).first.click()
    plots = page.locator('.js-plotly-plot').filter(visible=True)
    plots.first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    stats = [p.evaluate(PLOT_STATS) for p in plots.all() if p.is_visible()]
    page.screenshot(path=str(ARTIFACTS/shot), full_page=True)
    assert stats, f'{view}: no figure shown'
    for s in stats: assert s['points'] > 0 and s['drawn'] > 0 and s['width'] > 100, f'{view}: an empty figure {s}'


def test_views_render_in_chromium(dash_url):
    if not Path(CHROMIUM).exists(): pytest.fail(f'chromium not found at {CHROMIUM}; .ci/run installs it (apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    outside = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={'width': 1280, 'height': 1000})
        def offline(route):                                  # the dashboard must work with no network
            if route.request.url.startswith(('http://127.0.0.1', 'ws://127.0.0.1', 'data:', 'blob:')): return route.continue_()
            outside.append(route.request.url); route.abort()
        page.route('**/*', offline)
        page.goto(dash_url)
        page.get_by_text('recorded steps').first.wait_for(timeout=30_000)
        for view in VIEWS: show(page, view, f'{view}.png')
        browser.close()
    assert not outside, f'the dashboard asked the network for {outside}'
    for view in VIEWS: assert (ARTIFACTS/f'{view}.png').stat().st_size > 10_000


def test_replay_slider_moves_the_views(saved_run):
    "The saved run replays: the same data the browser saw, at any recorded step."
    from memlab.dashboard import Dashboard
    d = Dashboard(saved_run)
    assert d.step.options == [5, 10, 15, 20, 25, 30, 35, 40]
    d.follow.value = False; d.step.value = 15; d.tabs.active = 1        # replay step 15, memory tab
    assert d.panes['memory']['hologram'].object['layout']['title']['text'] == 'hologram spectra — step 15'
    d.tabs.active = 2
    assert d.panes['attention']['attention'].object['layout']['title']['text'] == 'attention — layer 0, head 0'


# a real clifford run: its own memory, torus phases and dream cycles, no Companion
CLIFFORD = """
import sys, torch
torch.set_num_threads(1)
from memlab.telemetry import Recorder, record
res, rec = record('clifford', 'tinyshakespeare', rec=Recorder(every=5), runs_dir=sys.argv[1], max_steps=60,
                  context=4, torus=0.1, dream_every=10, batch_size=8, seq_len=128, eval_tokens=2048)
print(res['run_dir'])
"""


def recorded(script: str, runs: Path):
    "Run `script` (a recording training run that prints its run folder) in its own process; the run folder and its telemetry."
    from memlab.telemetry import open_run
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', script, str(runs)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    run = Path(r.stdout.strip().splitlines()[-1])
    return run, open_run(run)


def test_clifford_views_show_its_own_memory(tmp_path):
    "The memory, attention (torus) and dream views of a real `clifford` run, in Chromium: its buckets, phases and NREM/REM bands."
    run, ds = recorded(CLIFFORD, tmp_path)
    kinds = set(ds['dream.event.kind'].values.astype(str))
    assert {'dream.nrem', 'dream.rem', 'dream.check'} <= kinds, kinds
    assert {'hologram.spectrum', 'memory.usage', 'torus.phase', 'retrieval.entropy'} <= set(ds.data_vars), list(ds.data_vars)
    with opened(run) as page:
        for view in ('memory', 'attention', 'dreams'): show(page, view, f'clifford-{view}.png')
        assert page.get_by_text('NREM').count() > 0 and page.get_by_text('REM', exact=True).count() > 0


BRAINCORE_DREAMS = """
import sys, torch
torch.set_num_threads(1)
from memlab.telemetry import Recorder, record
res, rec = record('braincore', 'tinyshakespeare', rec=Recorder(every=5), runs_dir=sys.argv[1], max_steps=40, minutes=None,
                  d_model=32, em_slots=16, batch_size=4, seq_len=64, eval_every=10**9, eval_tokens=1024, dream_every=20, dream_steps=10)
print(res['run_dir'])
"""


def test_dream_view_shows_real_cycles(tmp_path):
    "The dream view of a real `braincore` run with `dream_every`, in Chromium: NREM/REM bands of its two cycles and their before/after check."
    run, ds = recorded(BRAINCORE_DREAMS, tmp_path)
    kinds = list(ds['dream.event.kind'].values.astype(str))
    dreams = [k for k in kinds if k in ('dream.nrem', 'dream.rem')]
    assert dreams == ['dream.nrem', 'dream.rem'] * 2, kinds
    at = ds['dream.event.kind'].isin(['dream.nrem', 'dream.rem'])
    assert np.isfinite(ds['dream.event.before'].values[at.values]).all() and np.isfinite(ds['dream.event.after'].values[at.values]).all()
    logged = [json.loads(line) for line in (run/'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in logged if 'dream' in r] == [20, 40]
    with opened(run) as page:
        show(page, 'dreams', 'braincore-dreams.png')
        assert page.get_by_text('NREM').count() >= 2 and page.get_by_text('REM', exact=True).count() >= 2


CORTEX = """
import sys, torch
torch.set_num_threads(1)
from memlab.telemetry import Recorder, record
res, rec = record('cortex', 'tinyshakespeare', rec=Recorder(every=5), runs_dir=sys.argv[1], max_steps=30, minutes=None,
                  d_model=32, n_heads=2, hg_slots=64, hg_dim=64, cg_slots=32, batch_size=4, seq_len=64, eval_every=10**9, eval_tokens=1024)
print(res['run_dir'])
"""


def test_cortex_views_show_its_own_memory(tmp_path):
    "The training and memory views of a real `cortex` run, in Chromium: its own hologram spectra, trigger rate and retrieval entropy."
    run, ds = recorded(CORTEX, tmp_path)
    assert {'hologram.spectrum', 'hologram.rms', 'trigger.rate', 'retrieval.entropy'} <= set(ds.data_vars), list(ds.data_vars)
    rate = ds['trigger.rate'].values
    assert (rate > 0).any() and (rate <= 1).all(), rate         # calibrating towards its band (the notebook checks the band)
    with opened(run) as page:
        for view in ('training', 'memory'): show(page, view, f'cortex-{view}.png')

# `make demo` at a size that runs in seconds: the memory system, the baseline and the reference, on Tiny Shakespeare
DEMO = ['demo', '--corpus', 'tinyshakespeare', '--minutes', '2', '--max-steps', '40', '--batch-size', '4', '--seq-len', '64',
        '--set', 'd_model=32', '--set', 'em_slots=16', '--no-dash']


def test_demo_shows_its_own_memory(tmp_path):
    "`memlab demo` records braincore's own memory (no Companion), shown in every view it has, and ends comparing it with the baseline and `kn`."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MEMLAB_RUNS_DIR': str(tmp_path)}
    r = subprocess.run([str(Path(sys.executable).parent/'memlab'), *DEMO], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("memlab demo: test perplexity on the first 50,000 tokens of tinyshakespeare's"))
    rows = [ln.split() for ln in lines[head + 2:head + 6]]
    assert [row[0] for row in rows] == ['braincore', 'reset', 'transformer', 'kn'], lines[head:head + 6]
    assert all(float(row[1 if row[0] == 'reset' else 2]) < 65 for row in rows), rows      # each beats uniform over 65 characters
    run = Path(lines[-1].split('`memlab dash ')[1].rstrip('`'))
    from memlab.telemetry import open_run
    ds = open_run(run)
    assert {'memory.usage', 'attention.map', 'surprise', 'pm.strength'} <= set(ds.data_vars), list(ds.data_vars)
    assert 'hologram.spectrum' not in ds                     # nothing from the side Companion
    with opened(run) as page:
        for view in VIEWS: show(page, view, f'demo-{view}.png')      # the dreams view: its episodic writes and fast-weight commits
