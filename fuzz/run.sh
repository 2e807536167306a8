#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each with cargo-fuzz on nightly, starting from the
# committed corpora (copied, so a run does not grow them in the repository). Exits non-zero on the
# first crash, leaving the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets="image_read model_metadata profile nnef_cache"
# debug build with the address sanitizer: a third of the release build's time, same checks
cargo +nightly fuzz build --dev $targets
for target in $targets; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  echo "== fuzz $target for ${seconds}s"
  set +e
  cargo +nightly fuzz run --dev "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    > "$work.log" 2>&1
  status=$?
  set -e
  grep -E "DONE|Done [0-9]+ runs|==[0-9]+==|SUMMARY|panicked|ERROR" "$work.log" | tail -n 5 || true
  rm -f "$work.log"
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "fuzz $target: crash (input in fuzz/artifacts/$target/)"; exit 1
  fi
done
