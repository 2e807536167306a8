"""pytest setup: make `import daefr_models` work when pytest runs from models/ (or the repo root)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
