#!/usr/bin/env bash
# Prove that the ARM builds compute what the x86 build computes.
#
#   cross/qemu-check.sh [TARGET...]     (default: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
#
# For each target: cross-build `daefr` (release profile, shared target dir, per-triple subdir),
# then under qemu-user run
#   1. daefr --version
#   2. daefr restore --aligned tests/fixtures/astronaut.png with the tiny test model and the
#      bundled default model (when present) and compare the picture with the x86 build's: at most
#      1/255 difference per channel (cross/compare_images.py, Pillow);
#   3. aarch64 only, when models/daefr-lite-128-int8-dot.onnx exists: the same restore with that
#      int8-dot variant on a dot-product core (Cortex-A76, the Pi 5's), at least 40 dB against the
#      x86 fp32 output, and tract's SDOT kernel (arm64simd_mmm_i32_8x8_dot) in its profile;
#   4. daefr run --config firmware-config/headless-demo.toml --frames 2 (the live loop: synthetic
#      source, detector, restorer, PNG display), checking that 2 frames were captured.
# A failed step is reported and the script goes on; it exits 1 if any step failed.
#
# Emulated CPUs: aarch64 runs as a Cortex-A72 (Pi 4: NEON only, the f32 kernels the Pi 4, Pi 5 and
# Jetson Orin all use for fp32 models; qemu's default `max` CPU would make tract pick SVE kernels
# no board has). armv7 runs as a Cortex-A7 with TRACT_CPU_ARM32_NEON=1 (qemu shows the host's
# /proc/cpuinfo, so tract would otherwise not see NEON). See docs/cpu-features.md.
#
# Runtime on a 2-core x86 VM: the two cold tract cross-builds dominate (6-10 min each on an idle
# machine; 41 min for aarch64 on a machine busy with other jobs). The emulated steps took ~4 min for
# aarch64 (--version 0 s, tiny restore 21 s, lite-128 restore 105 s, 2 live frames 104 s), ~1.5 min
# for armv7 (tiny 5 s, lite-128 34 s, live 31 s). Expect ~25-35 min cold on an idle 2-core machine, well under
# 10 min warm. Timings under qemu are meaningless (100-200x slower than a board); use
# `daefr bench` on real hardware.
# The models are copied into the work dir first, so x86 and ARM run the same bytes even if
# someone regenerates models/ during the (long) cross-build: that once faked an armv7 "32-bit bug"
# (cross/README.md, "armv7: the lite-128 mismatch that was not a bug").
# Environment: QEMU_CHECK_TIMEOUT (seconds per emulated command, default 900),
# QEMU_CHECK_X86_BIN (reuse an x86 daefr built from this tree instead of building one),
# DAEFR_PYTHON (a Python with Pillow; default: target/py-venv/bin/python if present, else python3).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
fi
per_command_timeout="${QEMU_CHECK_TIMEOUT:-900}"
work="$(mktemp -d "${TMPDIR:-/tmp}/daefr-qemu-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
portrait=tests/fixtures/astronaut.png
tiny_model=tests/fixtures/daefr-tiny.onnx
default_model=models/daefr-lite-128.onnx
dot_model=models/daefr-lite-128-int8-dot.onnx
demo_profile=firmware-config/headless-demo.toml

# The target directory (respects CARGO_TARGET_DIR and .cargo/config.toml).
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"

# Python with Pillow for the image comparison: $DAEFR_PYTHON, else the venv scripts/test.sh
# makes, else python3.
python="${DAEFR_PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x target/py-venv/bin/python ]]; then python=target/py-venv/bin/python; else python=python3; fi
fi

started=$SECONDS
failures=()
results=()

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
pass() { results+=("PASS  $1"); echo "PASS: $1"; }
fail() { results+=("FAIL  $1"); failures+=("$1"); echo "FAIL: $1" >&2; }
skip() { results+=("SKIP  $1"); echo "SKIP: $1"; }

# Timed, with its own wall time printed (the emulated runs are slow: say how slow).
timed() {
    local t0=$SECONDS
    timeout "$per_command_timeout" "$@"
    local rc=$?
    echo "   ($((SECONDS - t0)) s, exit $rc)"
    return $rc
}

# Models to compare: name:path, each a snapshot taken now (see the header).
models=()
declare -A source_of=()   # snapshot name -> the repo path it was copied from (for messages)
for entry in "tiny:$tiny_model" "default:$default_model"; do
    name="${entry%%:*}"
    path="${entry#*:}"
    if [[ -f "$path" ]]; then
        cp "$path" "$work/model-$name.onnx" || exit 2
        models+=("$name:$work/model-$name.onnx")
        source_of[$name]="$path"
    fi
done
dot_copy=""
if [[ -f "$dot_model" && -f "$default_model" ]]; then
    dot_copy="$work/model-int8-dot.onnx"
    cp "$dot_model" "$dot_copy" || exit 2
fi
if [[ ${#models[@]} -eq 0 ]]; then
    echo "qemu-check: neither $tiny_model nor $default_model exists: nothing to compare" >&2
    exit 1
fi

if [[ -n "${QEMU_CHECK_X86_BIN:-}" ]]; then
    x86="$QEMU_CHECK_X86_BIN"          # an x86 daefr built elsewhere from this same tree
else
    step "x86 reference build"
    if ! cargo build --release --bin daefr; then
        echo "qemu-check: the x86 build failed" >&2
        exit 1
    fi
    x86="$target_dir/release/daefr"
fi
for entry in "${models[@]}"; do
    name="${entry%%:*}"
    path="${entry#*:}"
    if ! "$x86" restore --aligned "$portrait" -o "$work/x86-$name.png" --model "$path" --no-cache; then
        echo "qemu-check: the x86 reference restore with $path failed" >&2
        exit 1
    fi
done

for target in "${targets[@]}"; do
    case "$target" in
        aarch64-unknown-linux-gnu)
            runner=(qemu-aarch64 -cpu cortex-a72 -L /usr/aarch64-linux-gnu)
            tract_env=() ;;
        armv7-unknown-linux-gnueabihf)
            runner=(qemu-arm -cpu cortex-a7 -L /usr/arm-linux-gnueabihf)
            tract_env=(TRACT_CPU_ARM32_NEON=1) ;;
        *)
            fail "$target: unsupported target"
            continue ;;
    esac
    short="${target%%-*}"

    step "$target: build (release profile)"
    if ! cross/build.sh "$target" --profile release --install; then
        fail "$short: cross-build"
        continue
    fi
    bin="$target_dir/$target/release/daefr"
    emulated() { timed env "${tract_env[@]}" "${runner[@]}" "$bin" "$@"; }

    step "$target: daefr --version"
    if version="$(emulated --version)"; then
        echo "$version"
        pass "$short: --version ($(head -n1 <<< "$version"))"
    else
        fail "$short: --version"
        continue
    fi

    for entry in "${models[@]}"; do
        name="${entry%%:*}"
        path="${entry#*:}"
        step "$target: restore --aligned $portrait with ${source_of[$name]}"
        out="$work/$short-$name.png"
        if ! emulated restore --aligned "$portrait" -o "$out" --model "$path" --no-cache; then
            fail "$short: restore with ${source_of[$name]}"
            continue
        fi
        if "$python" cross/compare_images.py "$work/x86-$name.png" "$out" --max-diff 1; then
            pass "$short: restore with ${source_of[$name]} matches x86 within 1/255"
        else
            fail "$short: restore with ${source_of[$name]} differs from x86 by more than 1/255"
        fi
    done

    if [[ "$target" == aarch64-unknown-linux-gnu ]]; then
        if [[ -z "$dot_copy" ]]; then
            skip "$short: int8-dot ($dot_model and $default_model are needed)"
        else
            # -cpu cortex-a76: dot product and no SVE, as on a Pi 5 (`max` would pick SVE kernels)
            dot_runner=(qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu)
            step "$target: restore --aligned $portrait with $dot_model on a Cortex-A76"
            out="$work/$short-int8-dot.png"
            if ! timed "${dot_runner[@]}" "$bin" restore --aligned "$portrait" -o "$out" --model "$dot_copy" --no-cache; then
                fail "$short: restore with $dot_model"
            elif "$python" cross/compare_images.py "$work/x86-default.png" "$out" --min-psnr 40; then
                pass "$short: $dot_model within 40 dB of the x86 fp32 output"
            else
                fail "$short: $dot_model below 40 dB against the x86 fp32 output"
            fi
            step "$target: the int8-dot plan's kernels (inspect --profile 1 --all-nodes)"
            sdot=0
            if RUST_LOG=tract_linalg=debug timed "${dot_runner[@]}" "$bin" inspect "$dot_copy" --profile 1 --all-nodes \
                > "$work/int8-dot-inspect.txt" 2>&1; then
                sdot=$(grep -c arm64simd_mmm_i32_8x8_dot "$work/int8-dot-inspect.txt")
            fi
            if [[ "$sdot" -gt 0 ]]; then
                pass "$short: $dot_model runs tract's SDOT kernel (arm64simd_mmm_i32_8x8_dot, $sdot nodes)"
            else
                tail -n 5 "$work/int8-dot-inspect.txt" >&2
                fail "$short: no arm64simd_mmm_i32_8x8_dot in the profile of $dot_model"
            fi
        fi
    fi

    step "$target: daefr run --config $demo_profile --frames 2"
    if ! emulated run --help > /dev/null 2>&1; then
        skip "$short: live loop (this build has no \`daefr run\` yet)"
    elif [[ ! -f "$demo_profile" ]]; then
        skip "$short: live loop ($demo_profile does not exist yet)"
    elif [[ ! -f "$default_model" ]]; then
        skip "$short: live loop (the profile needs the bundled $default_model, not committed yet)"
    elif ! compgen -G 'models/blazeface/*.onnx' > /dev/null; then
        skip "$short: live loop (the profile needs the bundled detector models/blazeface/)"
    else
        stats="$work/$short-run.json"
        if emulated run --config "$demo_profile" --frames 2 --stats-json "$stats" \
            && "$python" - "$stats" << 'EOF'
import json, sys
stats = json.load(open(sys.argv[1]))
captured = stats.get("frames_captured")
print(f"stats: {stats}")
sys.exit(0 if captured == 2 else f"expected 2 frames captured, got {captured}")
EOF
        then
            pass "$short: live loop, 2 frames"
        else
            fail "$short: live loop"
        fi
    fi
done

printf '\n== summary (%d s in all)\n' $((SECONDS - started))
printf '%s\n' "${results[@]}"
if [[ ${#failures[@]} -gt 0 ]]; then
    exit 1
fi
