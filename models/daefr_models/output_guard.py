"""The rule every command that writes a model file follows: nothing is replaced unless asked.

`refusal(output, inputs, force)` says why `output` may not be written (a folder, one of the
command's own inputs, or an existing file without `--force`), or None. Commands check it before
their work and again just before writing, since the work can take minutes.
"""

from __future__ import annotations

from pathlib import Path


def refusal(output: Path, inputs: tuple[Path, ...] = (), force: bool = False) -> str | None:
    """Why `output` may not be written, or None when it may."""
    if output.is_dir():
        return f"{output} is a folder; name the file to write"
    if output.exists():
        for given in inputs:
            if given.exists() and output.resolve() == given.resolve():
                return f"{output} is the input file"
        if not force:
            return f"{output} exists (use --force to replace it)"
    return None
