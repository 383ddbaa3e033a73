"`memlab.sweep` across processes: worker processes on a journal file, and on a real PostgreSQL server started for the test."
import glob, json, os, shutil, socket, subprocess, tempfile
from pathlib import Path

import optuna
import pytest
import xarray as xr

from memlab.core import ConfigError
from memlab.sweep import open_storage, sweep

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
        assert r.parent == res.folder/'runs' and (r/'config.json').is_file() and (r/'metrics.jsonl').is_file() and (r/'results.json').is_file()
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
    assert journal.is_file() and len(complete(optuna.load_study(study_name='journal', storage=open_storage(str(journal))))) == 4
    logs = sorted((res.folder/'workers').iterdir())
    assert [p.name for p in logs] == ['worker-0.log', 'worker-1.log']
    per_worker = [p.read_text().count('finished with value') for p in logs]   # each process ran its own share
    assert per_worker == [2, 2], per_worker
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
    if os.geteuid() == 0:   # PostgreSQL refuses to run as root
        import pwd
        try: user = pwd.getpwnam('postgres')
        except KeyError: pytest.fail("running as root, but there is no 'postgres' user to run the server as; install the postgresql package")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = ['runuser', '-u', 'postgres', '--']
    run = lambda *cmd: subprocess.run([*as_user, *map(str, cmd)], check=True, capture_output=True, text=True, timeout=120)
    port, data = _free_port(), base/'data'
    (base/'pw').write_text(PASSWORD + '\n')
    if as_user: shutil.chown(base/'pw', 'postgres')
    def stop():
        subprocess.run([*as_user, str(pg/'pg_ctl'), '-D', str(data), '-m', 'fast', '-w', 'stop'], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
    try:
        run(pg/'initdb', '-D', data, '-U', 'postgres', '--pwfile', base/'pw', '--auth-local=trust', '--auth-host=scram-sha-256',
            '-E', 'UTF8', '--locale=C', '--no-sync')
        run(pg/'pg_ctl', '-D', data, '-l', base/'server.log', '-w', '-t', '60', 'start',
            '-o', f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off")
        run(pg/'createdb', '-h', base, '-p', port, '-U', 'postgres', 'sweeps')
    except subprocess.CalledProcessError as e:
        log = (base/'server.log').read_text() if (base/'server.log').exists() else ''
        stop()
        pytest.fail(f"could not start a PostgreSQL server: {' '.join(map(str, e.cmd))} failed:\n{e.stderr}\n{log}")
    try: yield f'postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/sweeps'
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
