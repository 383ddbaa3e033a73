"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells as Python blocks).

nbdev's own `nbdev-readme` needs Quarto, which this project does not install; this keeps the README
generated from the notebook without it. `--check` exits 1 when README.md is out of date.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    cells = json.loads(Path(nb_path).read_text())['cells']
    parts = ['<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->']
    for c in cells:
        src = ''.join(c['source']).strip()
        if not src or src.startswith('#| hide'): continue
        parts.append(src if c['cell_type'] == 'markdown' else f'```python\n{src}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`')
    else: readme.write_text(text)
