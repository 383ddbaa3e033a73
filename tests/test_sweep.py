"`memlab.sweep` across processes: worker processes on a journal file, and on a real PostgreSQL server started for the test."
import collections, glob, json, os, shutil, socket, subprocess, tempfile
from pathlib import Path

import optuna
import pytest
import xarray as xr

import memlab.sweep
from memlab.core import ConfigError, DataError
from memlab.sweep import open_storage, redact, sweep

TINY = dict(max_steps=3, minutes=None, batch_size=4, seq_len=16, eval_tokens=256, eval_every=10**9, log_every=1, d_model=16)
CORPUS = 'tinyshakespeare'   # loads in a fraction of a second (wikitext2 takes a minute to score)


def complete(study) -> list:
    return [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]


def check_folder(res, n: int):
    "The sweep folder holds the dataset, leaderboard and figure, and `n` complete trials with distinct, real run folders."
    assert {'results.nc', 'leaderboard.md', 'figure.html', 'sweep.json'} <= {p.name for p in res.folder.iterdir()}
    ds = xr.load_dataset(res.folder/'results.nc', engine='h5netcdf')
    assert list(ds.state.values) == ['COMPLETE'] * n
    runs = [Path(str(r)) for r in ds.run_dir.values]
    assert len(set(runs)) == n
    for r in runs:
        assert r.parent == res.folder/'runs' and (r/'config.json').is_file() and (r/'metrics.jsonl').is_file() and (r/'results.json').is_file() and (r/'telemetry.zarr').is_dir()
    assert (ds.valid_ppl > 1).all() and set(ds.data_vars) >= {'valid_ppl', 'test_ppl', 'lr', 'state', 'run_dir', 'duration'}
    board = (res.folder/'leaderboard.md').read_text()
    assert board.startswith(f'# Sweep {res.folder.name}: lstm on {CORPUS}') and board.count('| COMPLETE |') == n
    return ds


def test_journal_workers(tmp_path):
    "2 worker processes x 2 trials each, sharing one journal file."
    journal = tmp_path/'study.journal'
    res = sweep('lstm', CORPUS, ['lr=log:1:30', 'dropout=float:0:0.3'], trials=4, workers=2, storage=journal,
                name='journal', runs_dir=tmp_path, **TINY)
    ds = check_folder(res, 4)
    trials = complete(optuna.load_study(study_name='journal', storage=open_storage(str(journal))))
    assert journal.is_file() and len(trials) == 4
    assert sorted(p.name for p in (res.folder/'workers').iterdir()) == ['worker-0.log', 'worker-1.log']
    per_worker = collections.Counter(t.user_attrs['worker'] for t in trials)   # each process ran its own share
    assert per_worker == {0: 2, 1: 2}, per_worker
    launches = json.loads((res.folder/'sweep.json').read_text())['launches']   # the sampler seeds are on record
    assert len(launches) == 1 and len(set(launches[0]['seeds'])) == 2
    assert {t.user_attrs['launch'] for t in trials} == {launches[0]['launch']}
    assert 0 <= ds.attrs['best_trial'] < 4 and res.best['valid_ppl'] == float(ds.valid_ppl.min())


# ---- PostgreSQL: a private server for the test -------------------------------------------------------------------

PASSWORD = 'sweep-secret'


def _pg_bin() -> Path:
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(Path(p).parts[-3])) or [shutil.which('initdb')]
    if found[-1] is None:
        pytest.fail('PostgreSQL is not installed: no initdb in /usr/lib/postgresql/*/bin or on PATH. '
                    'Install it with `make postgres` (apt-get install postgresql) and run the tests again.')
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture
def postgres():
    "A PostgreSQL server of our own on 127.0.0.1 (run as `postgres` when we are root), with a database `sweeps`; its URL."
    pg, as_user = _pg_bin(), []
    base = Path(tempfile.mkdtemp(prefix='memlab-pg-'))   # not pytest's tmp_path: the postgres user must be able to enter it
    data, log = base/'data', base/'server.log'
    run = lambda *cmd, timeout=180: subprocess.run([*as_user, *map(str, cmd)], check=True, capture_output=True, text=True, timeout=timeout)

    def stop():   # whatever state start left it in: a server up, half up, or never started
        try:
            for mode in ('fast', 'immediate'):
                try:
                    subprocess.run([*as_user, str(pg/'pg_ctl'), '-D', str(data), '-m', mode, '-w', '-t', '60', 'stop'],
                                   capture_output=True, timeout=90)
                    break
                except subprocess.TimeoutExpired: continue
        finally: shutil.rmtree(base, ignore_errors=True)

    try:
        if os.geteuid() == 0:   # PostgreSQL refuses to run as root
            import pwd
            try: user = pwd.getpwnam('postgres')
            except KeyError: pytest.fail("running as root, but there is no 'postgres' user to run the server as; install the postgresql package")
            os.chown(base, user.pw_uid, user.pw_gid)
            as_user = ['runuser', '-u', 'postgres', '--']
        (base/'pw').write_text(PASSWORD + '\n')
        if as_user: shutil.chown(base/'pw', 'postgres')
        try:
            run(pg/'initdb', '-D', data, '-U', 'postgres', '--pwfile', base/'pw', '--auth-local=trust', '--auth-host=scram-sha-256',
                '-E', 'UTF8', '--locale=C', '--no-sync')
            for attempt in (1, 2):   # another process may take the free port before the server binds it: try a second one
                port = _free_port()
                try:
                    run(pg/'pg_ctl', '-D', data, '-l', log, '-w', '-t', '150', 'start',
                        '-o', f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off")
                    break
                except subprocess.CalledProcessError:
                    if attempt == 2 or 'could not bind' not in (log.read_text(errors='replace') if log.exists() else ''): raise
            run(pg/'createdb', '-h', base, '-p', port, '-U', 'postgres', 'sweeps')
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            why = e.stderr if isinstance(e, subprocess.CalledProcessError) else f'no answer in {e.timeout} s'
            pytest.fail(f"could not start a PostgreSQL server: {' '.join(map(str, e.cmd))} failed:\n{why}\n"
                        f"{log.read_text(errors='replace') if log.exists() else ''}")
        yield f'postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/sweeps'
    finally: stop()


def test_postgresql_storage(postgres, tmp_path):
    "2 worker processes x 1 trial against a real PostgreSQL server; the trials are in the server, the password nowhere on disk."
    res = sweep('lstm', CORPUS, ['lr=log:1:30'], trials=2, workers=2, storage=postgres, name='pg', runs_dir=tmp_path, **TINY)
    check_folder(res, 2)
    again = optuna.load_study(study_name='pg', storage=open_storage(postgres))   # a new connection reads them back from the server
    trials = complete(again)
    assert len(trials) == 2 and all(Path(t.user_attrs['run_dir']).is_dir() for t in trials)
    assert sorted(t.value for t in trials) == sorted(res.ds.valid_ppl.values.tolist())
    assert all(PASSWORD not in p.read_text(errors='replace') for p in res.folder.rglob('*') if p.is_file() and p.suffix in ('.json', '.md', '.log'))
    assert json.loads((res.folder/'sweep.json').read_text())['storage'] == postgres.replace(PASSWORD, '***')


# ---- bad input: one clear error, before anything runs -------------------------------------------------------------

@pytest.mark.parametrize('kw, msg', [
    (dict(params=['lr=lgo:1e-4:1e-2']), "unknown distribution 'lgo' in 'lr=lgo:1e-4:1e-2'; choose one of log, float, int, choice"),
    (dict(system='brain'), "unknown system 'brain'; choose one of"),
    (dict(params=['colour=choice:red,blue']), "unknown parameter for system lstm 'colour'; choose one of d_model, n_layers, dropout"),
    (dict(storage='sqlite:///study.db'), 'SQLite is not safe for concurrent workers'),
    (dict(storage='postgresql://ann:pw@127.0.0.1:{port}/sweeps'), 'cannot use the PostgreSQL storage postgresql://ann:***@127.0.0.1:'),
], ids=['distribution', 'system', 'parameter', 'sqlite', 'postgres-down'])
def test_bad_input(kw, msg, tmp_path):
    kw = {'system': 'lstm', 'params': ['lr=log:1:30'], **kw}
    if 'storage' in kw: kw['storage'] = kw['storage'].format(port=_free_port())   # a port where nothing listens
    with pytest.raises(ConfigError) as e:
        sweep(kw.pop('system'), CORPUS, kw.pop('params'), trials=2, workers=2, runs_dir=tmp_path, **kw, **TINY)
    assert msg in str(e.value) and 'pw@' not in str(e.value)
    assert not (tmp_path/'sweeps').exists() or not any((tmp_path/'sweeps').iterdir())   # nothing half-made


def test_missing_text_corpus(tmp_path):
    "A text corpus that is not there fails before any folder is made, and the name stays free."
    with pytest.raises((ConfigError, DataError)) as e:
        sweep('lstm', f"text:{tmp_path/'no such book.txt'}", ['lr=log:1:30'], trials=2, name='book', runs_dir=tmp_path, **TINY)
    assert 'does not exist' in str(e.value)
    assert not (tmp_path/'sweeps').exists()
    res = sweep('lstm', CORPUS, ['lr=log:1:30'], trials=1, name='book', runs_dir=tmp_path, **TINY)
    assert list(res.ds.state.values) == ['COMPLETE']


def test_text_corpus_default_name(tmp_path):
    "A `text:PATH` corpus with a space in it: one flat folder, a study name without '/', a command that runs in a shell."
    book = tmp_path/'my book.txt'
    book.write_text(''.join(f'line {i}: to be, or not to be, that is the question.\n' for i in range(400)))
    res = sweep('lstm', f'text:{book}', ['lr=log:1:30'], trials=1, runs_dir=tmp_path, **TINY)
    assert res.folder.parent == tmp_path/'sweeps' and res.folder.name.startswith('lstm-text-my_book.txt-')
    assert '/' not in res.study.study_name and list(res.ds.state.values) == ['COMPLETE']
    import shlex
    assert shlex.split(res.ds.attrs['command'])[4:6] == ['--task', f'text:{book}']


def test_failure_before_any_result_frees_the_name(tmp_path, monkeypatch):
    "A sweep that breaks before a trial completes removes the folder it made; the name can be used at once."
    def broken(*a, **kw): raise RuntimeError('the machine fell over')
    monkeypatch.setattr(memlab.sweep, 'optimize', broken)
    with pytest.raises(RuntimeError, match='fell over'):
        sweep('lstm', CORPUS, ['lr=log:1:30'], trials=2, name='again', runs_dir=tmp_path, **TINY)
    assert not (tmp_path/'sweeps'/'again').exists()
    monkeypatch.undo()
    assert len(sweep('lstm', CORPUS, ['lr=log:1:30'], trials=1, name='again', runs_dir=tmp_path, **TINY).ds.trial) == 1


def test_interrupt_keeps_finished_trials(tmp_path, monkeypatch):
    "Ctrl-C after one trial: the folder stays, with that trial saved in results.nc and the leaderboard."
    real = memlab.sweep.optimize
    def one_then_ctrl_c(study, spec, trials, *a): real(study, spec, 1, *a); raise KeyboardInterrupt
    monkeypatch.setattr(memlab.sweep, 'optimize', one_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweep('lstm', CORPUS, ['lr=log:1:30'], trials=3, name='cut', runs_dir=tmp_path, **TINY)
    folder = tmp_path/'sweeps'/'cut'
    ds = xr.load_dataset(folder/'results.nc', engine='h5netcdf')
    assert list(ds.state.values) == ['COMPLETE'] and '1 of 1 trials complete' in (folder/'leaderboard.md').read_text()


@pytest.mark.parametrize('url, shown', [
    ('postgresql://u:pa/ss@h/db', 'postgresql://u:***@h/db'),
    ('postgresql://ann@db:5432/optuna?password=secret&sslmode=require', 'postgresql://ann@db:5432/optuna?sslmode=require'),
])
def test_redact(url, shown):
    assert redact(url) == shown
