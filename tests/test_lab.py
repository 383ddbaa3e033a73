"""The dashboard inline in JupyterLab, in a real browser: the tutorial `01_watch_memory` is copied into a temporary folder (the
lab never autosaves into nbs/), a JupyterLab server is started on it with its own config, data and runtime folders, the
notebook is opened in headless Chromium (the Debian package, driven by Playwright — no browser is downloaded) and run with
Run → Run All Cells. The inline Panel dashboard must render in the cell output and its step count must advance while the
background run trains; the dashboard the notebook serves while a training cell blocks must follow its run too, and every
cell must run. Screenshots land in test-artifacts/lab-*.png."""
import contextlib, json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

NB = ROOT/'nbs'/'tutorials'/'01_watch_memory.ipynb'
SECONDS = 30                    # each of the tutorial's two runs trains this long: time to watch each dashboard follow it
SERVED = 180                    # ... but the served one longer: it must still be training after its port opens and a page loads
                                # (90 s was not enough once: in a loaded make test the page reached the port check as that run ended)
SHOT_MS = 120_000               # a screenshot of a page that is still drawing a live run, while the other test worker loads the machine
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync']
ARTIFACTS = ROOT/'test-artifacts'
os.environ.setdefault('PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD', '1')
# what the browser must not ask for (matched in Playwright's driver: local requests, the big ones, never pass through Python)
OUTSIDE = re.compile(r'^(?!(https?|wss?)://127\.0\.0\.1[:/]|data:|blob:)')
# no news, update checks or extension listings from the network
NO_NEWS = {'@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false', 'checkForUpdates': False}}


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _poll(what, check, timeout, page=None, every=0.5):
    "Call `check` until it returns something truthy (returned) or `timeout` s pass (fail, saying `what`); `page` keeps serving meanwhile."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (got := check()): return got
        if page is None: time.sleep(every)
        else: page.wait_for_timeout(every * 1000)           # Playwright answers the page's routed requests only while it waits
    raise AssertionError(f'{what}: not within {timeout} s')


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on a copy of the tutorial, isolated under tmp_path; yields (base url, token, the port `serve` binds) and shuts it down."
    import psutil
    root, home = tmp_path/'root', tmp_path/'jupyter'
    root.mkdir()
    shutil.copy(NB, root/NB.name)
    for name, settings in NO_NEWS.items():
        (f := home/'config'/'lab'/'user-settings'/name).parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(settings))
    port, dash_port, token = _free_port(), _free_port(), secrets.token_hex(16)
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(home/'config'), 'JUPYTER_DATA_DIR': str(home/'data'),
           'JUPYTER_RUNTIME_DIR': str(home/'runtime'), 'IPYTHONDIR': str(home/'ipython'), 'OMP_NUM_THREADS': '1',
           'MEMLAB_TUTORIAL_STEPS': str(10**7), 'MEMLAB_TUTORIAL_MINUTES': str(SECONDS / 60),
           'MEMLAB_TUTORIAL_SERVED_MINUTES': str(SERVED / 60), 'MEMLAB_DASHBOARD_PORT': str(dash_port)}
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.port_retries=0',
           '--ServerApp.ip=127.0.0.1', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
           '--LabApp.news_url=None', '--LabApp.extension_manager=readonly'] + (['--allow-root'] if os.geteuid() == 0 else [])
    log = tmp_path/'lab.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    url, auth = f'http://127.0.0.1:{port}', {'Authorization': f'token {token}'}

    def answers():
        if proc.poll() is not None: raise AssertionError(f'jupyter lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}')
        try:
            with urllib.request.urlopen(urllib.request.Request(f'{url}/api/status', headers=auth), timeout=2) as r: return r.status == 200
        except OSError: return False
    try:
        _poll('jupyter lab answering', answers, 120)
        yield url, token, dash_port
    finally:
        kernels = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        try: urllib.request.urlopen(urllib.request.Request(f'{url}/api/shutdown', method='POST', headers=auth), timeout=10).close()
        except OSError: pass                                  # shuts its kernels down, then exits
        try: proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        for k in kernels:                                     # a kernel runs in its own session: not in the server's group
            with contextlib.suppress(psutil.NoSuchProcess): k.kill()
        print(log.read_text()[-2000:])


def _kernel_ready(url, token) -> bool:
    "The server's kernels: one is idle, and the page holds a connection to it. A server error while the kernel starts means not yet."
    try:
        with urllib.request.urlopen(urllib.request.Request(f'{url}/api/kernels', headers={'Authorization': f'token {token}'}), timeout=5) as r:
            return any(k['execution_state'] == 'idle' and k['connections'] > 0 for k in json.load(r))
    except urllib.error.HTTPError as e:     # jupyter_server answers 500 while a kernel's websocket is half set up (seen in CI)
        if e.code < 500: raise
        return False


def _running(page) -> bool:
    "Whether Run All started; if the lab asks which kernel to run on, it takes the one it offers (the notebook's python3)."
    dialog = page.locator('.jp-Dialog').get_by_role('button', name='Select', exact=True)
    if dialog.is_visible(): dialog.click()
    return page.locator('.jp-CodeCell .jp-InputPrompt').first.inner_text().strip() not in ('[ ]:', '')


def _steps(text: str) -> int:
    return int(re.search(r'(\d+) recorded steps', text).group(1))


def _listening(port: int) -> bool:
    try: socket.create_connection(('127.0.0.1', port), timeout=1).close(); return True
    except OSError: return False


def _run_all_and_watch(browser, page, url: str, token: str, dash_port: int, offline):
    "Run the tutorial with Run All and watch both of its dashboards; screenshots to test-artifacts/lab-*.png."
    page.goto(f'{url}/lab/tree/{NB.name}?token={token}')
    _poll("the notebook's kernel idle, with the page connected", lambda: _kernel_ready(url, token), 120, page)
    page.get_by_role('menuitem', name='Run', exact=True).click()
    page.get_by_text('Run All Cells', exact=True).click()
    _poll('Run All to start', lambda: _running(page), 60, page)

    # (a) the dashboard renders in the output of its cell (Playwright's locators pierce Panel's shadow DOM) ...
    cell = page.locator('.jp-CodeCell').filter(has_text='dash.view()')
    status = cell.get_by_text(re.compile(r'\d+ recorded steps')).first
    status.wait_for(timeout=180_000)
    cell.locator('.js-plotly-plot').first.wait_for(timeout=60_000)
    first = status.inner_text()
    assert '— training' in first and 'finished' not in first, f'the run ended before the dashboard was seen: {first}'
    # (b) ... and follows the run: its step count advances while the background run trains
    _poll(f'the inline step count advancing past {first!r}', lambda: _steps(status.inner_text()) > _steps(first), 120, page)

    # the second mode: a training cell that blocks, with the dashboard served from the kernel (on the port the test chose:
    # the lab's page may lag behind its updates, and under load it once never showed the printed URL, so the test does not
    # read the URL from the page), which follows the run too
    _poll(f'the served dashboard listening on port {dash_port}', lambda: _listening(dash_port), 300, page)
    other = browser.new_context(viewport={'width': 1280, 'height': 900}).new_page()
    other.route(OUTSIDE, offline)
    other.goto(f'http://127.0.0.1:{dash_port}/memlab', timeout=60_000)
    there = other.get_by_text(re.compile(r'\d+ recorded steps')).first
    there.wait_for(timeout=60_000)
    seen = there.inner_text()
    _poll(f'the served step count advancing past {seen!r}', lambda: _steps(there.inner_text()) > _steps(seen), 60, other)
    other.screenshot(path=str(ARTIFACTS/'lab-served.png'), timeout=SHOT_MS)
    other.context.close()

    # every cell ran: the last one (srv.stop()) has its execution count, which Run All reaches only without an error
    last = page.locator('.jp-CodeCell .jp-InputPrompt').last
    _poll('the last cell to run', lambda: re.fullmatch(r'\[\d+\]:', last.inner_text().strip()), 300, page, every=1)
    # the kernel is free again: the inline dashboard shows the finished run, and its memory tab how the slots filled up
    final = _poll('the inline dashboard to show the finished run', lambda: 'training finished' in (t := status.inner_text()) and t,
                  60 + SERVED, page)   # (the served run's blocking cell may still hold the kernel)
    cell.evaluate('el => el.scrollIntoView()')
    page.screenshot(path=str(ARTIFACTS/'lab-dashboard.png'), timeout=SHOT_MS)
    cell.locator('.bk-tab', has_text='memory').first.click()
    step = re.search(r'showing step (\d+)', final).group(1)
    cell.get_by_text(f'hologram spectra — step {step}').first.wait_for(timeout=60_000)
    # no screenshot of the memory tab: with ~400 recorded steps, Playwright's driver (node) died of "Zone Allocation
    # failed - process out of memory" while taking it, three runs in a row (2026-11-28); the text above is the check


def test_dashboard_updates_inline_in_jupyterlab(lab):
    if not Path(CHROMIUM).exists(): pytest.fail(f'chromium not found at {CHROMIUM}; .ci/run installs it (apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    outside = []
    def offline(route):                                      # the lab and the dashboards must work with no network
        outside.append(route.request.url); route.abort()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={'width': 1400, 'height': 1600})
        page.route(OUTSIDE, offline)
        try: _run_all_and_watch(browser, page, *lab, offline)
        except BaseException:
            page.screenshot(path=str(ARTIFACTS/'lab-failure.png')); raise
        finally: browser.close()
    # Panel links the CSS of panes it creates after the first render to its CDN (blocked here: the page still works)
    assert not [u for u in outside if '.css' not in u], f'the lab asked the network for {outside}'
