import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_shared = ROOT.parent/'shared'/'data'
if 'MEMLAB_DATA_DIR' not in os.environ and (_shared/'wikitext-2').is_dir():
    os.environ['MEMLAB_DATA_DIR'] = str(_shared)

if os.environ.get('PYTEST_XDIST_WORKER'):  # one torch thread per worker: workers x threads = cores
    os.environ.setdefault('OMP_NUM_THREADS', '1')   # ... and in the processes the tests start (memlab, torchrun, notebooks)
    import torch
    torch.set_num_threads(1)

# property tests draw the same examples on every run, so CI cannot fail by the luck of the draw
from hypothesis import settings
settings.register_profile('memlab', derandomize=True)
settings.load_profile('memlab')
