"""Author notebooks as percent scripts and back (a dev tool; nbdev still exports from the .ipynb).

    python tools/nbpy.py to-py nbs/30_train.ipynb > /tmp/30_train.py
    python tools/nbpy.py to-nb /tmp/30_train.py nbs/30_train.ipynb

In the script, `#%%` starts a code cell and `#%% md` a markdown cell whose lines follow verbatim.
Run `nbdev-clean` and `nbdev-export` after writing a notebook.
"""
import json, sys, uuid
from pathlib import Path


def to_py(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb['cells']:
        out.append('#%% md' if c['cell_type'] == 'markdown' else '#%%')
        out.append(''.join(c['source']))
    return '\n'.join(out) + '\n'


def to_nb(py_text, old=None):
    "A notebook of the percent script `py_text`; cells whose source is unchanged keep their ids from the notebook `old`."
    cells, kind, lines = [], None, []
    ids = {}
    for c in (old or {}).get('cells', []): ids.setdefault(''.join(c['source']).strip('\n'), []).append(c.get('id'))

    def flush():
        if kind is None: return
        src = '\n'.join(lines).strip('\n')
        kept = ids.get(src) or [None]
        cell = dict(cell_type=kind, id=kept.pop(0) or uuid.uuid4().hex[:8], metadata={}, source=src.splitlines(keepends=True))
        if kind == 'code': cell.update(execution_count=None, outputs=[])
        cells.append(cell)

    for line in py_text.splitlines():
        if line.startswith('#%%'):
            flush()
            kind, lines = ('markdown' if line[3:].strip() == 'md' else 'code'), []
        else: lines.append(line)
    flush()
    meta = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    return dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5)


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    if cmd == 'to-py': sys.stdout.write(to_py(args[0]))
    elif cmd == 'to-nb':
        old = json.loads(Path(args[1]).read_text()) if Path(args[1]).exists() else None
        Path(args[1]).write_text(json.dumps(to_nb(Path(args[0]).read_text(), old), indent=1) + '\n')
    else: sys.exit(f'unknown command {cmd!r}; choose one of to-py, to-nb')
