"""pytest setup for models/.

- Puts models/ on sys.path so `import daefr_models` works when pytest runs from models/ (or the
  repository root).
- Runs torch on one thread: the tests use tiny models, and on a shared, busy machine torch's
  OpenMP workers spin and make a 47 MMAC forward 100x slower (measured: 2.5 s vs 0.03 s).
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(1)
