"""Identity splits of ``celeba-6k``: train on some people, measure on people the model never saw.

    python -m daefr_models.splits --celeba ../shared/data/celeba-6k --out models/data

``celeba-6k/test`` holds other photos of the *same* 200 people as ``train/``: a model trained on
``train/`` has seen them, and looks better there than on any stranger. This module fixes one split
by whole identities and writes it as folders of per-file symlinks (``Path.rglob`` does not enter
symlinked folders, so the folders are real and the files are links):

- ``OUT/train-180/<identity>/<n>.jpg``: ``train/`` of identities ``celeb_0`` ... ``celeb_179``,
  what every training stage reads (``--data models/data/train-180``);
- ``OUT/holdout/<split>-<identity>/<n>.jpg``: ``train/`` *and* ``test/`` of ``celeb_180`` ...
  ``celeb_199`` (600 crops), never seen by any stage: the evaluation set for strangers.

The head start ``../shared/checkpoints/lite-128-180ids/stage1.pt`` was trained on exactly this
``train-180`` set, so stages built on it keep the holdout unseen.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: Identities never used for training: ``celeb_180`` ... ``celeb_199``.
HOLDOUT_IDS = tuple(f"celeb_{i}" for i in range(180, 200))


def is_holdout(identity: str) -> bool:
    """True for an identity folder name of the held-out people."""
    return identity in HOLDOUT_IDS


def _link_tree(files: list[tuple[Path, Path]]) -> int:
    made = 0
    for src, dst in files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            if dst.is_symlink() and Path(os.readlink(dst)) == src:
                continue
            raise FileExistsError(f"{dst} exists and is not a link to {src}; remove the folder to rebuild it")
        dst.symlink_to(src)
        made += 1
    return made


def make_split(celeba: Path, out: Path) -> dict[str, int]:
    """Write ``out/train-180`` and ``out/holdout`` (see the module doc); return image counts.

    Re-running it is harmless (links that already point at the right file are kept); a file in
    the way that is not such a link is an error, never overwritten."""
    celeba = celeba.resolve()
    train, test = celeba / "train", celeba / "test"
    for d in (train, test):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: not a folder (expected celeba-6k with train/ and test/)")
    train_files, holdout_files = [], []
    for split, root in (("train", train), ("test", test)):
        for ident in sorted(p for p in root.iterdir() if p.is_dir()):
            for img in sorted(f for f in ident.iterdir() if f.is_file()):
                if is_holdout(ident.name):
                    holdout_files.append((img, out / "holdout" / f"{split}-{ident.name}" / img.name))
                elif split == "train":
                    train_files.append((img, out / "train-180" / ident.name / img.name))
    if not holdout_files:
        raise FileNotFoundError(f"{celeba}: none of the held-out identities {HOLDOUT_IDS[0]}..{HOLDOUT_IDS[-1]}")
    _link_tree(train_files)
    _link_tree(holdout_files)
    return {"train-180": len(train_files), "holdout": len(holdout_files)}


def main(argv: list[str] | None = None) -> dict[str, int]:
    ap = argparse.ArgumentParser(description="Write the identity split of celeba-6k as folders of symlinks.")
    ap.add_argument("--celeba", type=Path, required=True, help="celeba-6k folder (train/ and test/)")
    ap.add_argument("--out", type=Path, required=True, help="where train-180/ and holdout/ go")
    args = ap.parse_args(argv)
    counts = make_split(args.celeba, args.out)
    for name, n in counts.items():
        print(f"{args.out / name}: {n} images")
    return counts


if __name__ == "__main__":
    main()
