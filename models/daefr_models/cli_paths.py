"""Argument types for the toolchain's command lines: a path that must exist is checked by argparse,
so a mistyped checkpoint is a one-line usage error, not a traceback from deep inside torch."""

from __future__ import annotations

import argparse
from pathlib import Path


def existing_file(text: str) -> Path:
    """``type=`` for an argument naming a file that must exist (a checkpoint, a model)."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}" + (" (a folder)" if path.is_dir() else ""))
    return path
