#!/usr/bin/env bash
# The project's test command (README, command 2): the Rust runtime's tests, then the Python model
# toolchain's tests. Needs only a Rust toolchain and Python 3 (3.10+): the Python packages go into a
# virtual environment under target/py-venv, made on the first run and re-made when
# models/requirements.txt changes. DAEFR_PYTHON=/path/to/python uses an existing interpreter instead.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/py-venv
python=${DAEFR_PYTHON:-}
if [ -z "$python" ]; then
  python=$venv/bin/python
  stamp=$venv/.requirements.sha256
  want=$(sha256sum models/requirements.txt | cut -d' ' -f1)
  if [ ! -x "$python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "== scripts/test.sh: installing the Python toolchain's packages into $venv (once; torch is large)"
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
      echo "scripts/test.sh: 'python3 -m venv' failed; on Debian: apt-get install python3-venv" >&2
      exit 1
    fi
    "$python" -m pip install -q --upgrade pip
    "$python" -m pip install -q -r models/requirements.txt
    echo "$want" >"$stamp"
  fi
fi

echo "== Rust tests"
cargo test --release
echo "== Python model toolchain tests ($python)"
case $python in /*) ;; */*) python=$PWD/$python ;; esac
(cd models && "$python" -m pytest -q)
