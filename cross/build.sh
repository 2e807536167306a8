#!/usr/bin/env bash
# Cross-compile the `daefr` binary for an ARM board with plain cargo.
#
#   cross/build.sh TARGET [--profile release|dist] [--install] [-- extra cargo args]
#
# TARGET: aarch64-unknown-linux-gnu     (Raspberry Pi 4/5 with a 64-bit OS, Jetson)
#         armv7-unknown-linux-gnueabihf (Raspberry Pi 2/3/4 with a 32-bit OS)
#
# Linkers and qemu runners are configured in .cargo/config.toml. This script checks
# that Debian's cross toolchain, qemu-user and the rustup target are present; with
# --install (or DAEFR_CROSS_INSTALL=1) it installs what is missing (apt-get needs root),
# otherwise it prints the exact command and stops.
#
# Default profile: `dist` (LTO, stripped: what you copy to the board). CI uses
# `--profile release` to share the dependency cache with the x86 build.
# Example: cross/build.sh aarch64-unknown-linux-gnu -- --features camera
set -euo pipefail

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[[ $# -ge 1 ]] || usage
target="$1"
shift
profile="dist"
install="${DAEFR_CROSS_INSTALL:-0}"
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a value}"; shift 2 ;;
        --install) install=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "build.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

case "$target" in
    aarch64-unknown-linux-gnu)
        gcc=aarch64-linux-gnu-gcc
        qemu=qemu-aarch64
        sysroot=/usr/aarch64-linux-gnu
        debs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
    armv7-unknown-linux-gnueabihf)
        gcc=arm-linux-gnueabihf-gcc
        qemu=qemu-arm
        sysroot=/usr/arm-linux-gnueabihf
        debs=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user) ;;
    *)
        echo "build.sh: unsupported target '$target'" >&2
        echo "  supported: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf" >&2
        exit 2 ;;
esac

# The `camera` feature runs bindgen, which needs libclang on the build host.
wants_camera=0
for arg in "${extra[@]+"${extra[@]}"}"; do
    [[ "$arg" == *camera* ]] && wants_camera=1
done

missing=()
command -v "$gcc" > /dev/null || missing+=("${debs[0]}")
[[ -f "$sysroot/lib/libc.so.6" ]] || missing+=("${debs[1]}")
command -v "$qemu" > /dev/null || missing+=(qemu-user)
if [[ $wants_camera == 1 ]] && ! compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' > /dev/null; then
    missing+=(libclang-dev)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ "$install" == 1 ]]; then
        sudo_cmd=()
        [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
        echo "build.sh: installing ${missing[*]}" >&2
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
    else
        echo "build.sh: missing host packages for $target. Install them with:" >&2
        echo "  sudo apt-get install ${missing[*]}" >&2
        echo "(or rerun with --install; on a non-Debian host use Cross.toml with cross-rs)" >&2
        exit 1
    fi
fi

if command -v rustup > /dev/null; then
    if ! rustup target list --installed | grep -qx "$target"; then
        echo "build.sh: rustup target add $target" >&2
        rustup target add "$target"
    fi
elif ! rustc --print target-libdir --target "$target" > /dev/null 2>&1; then
    echo "build.sh: the Rust standard library for $target is missing: rustup target add $target" >&2
    exit 1
fi

cd "$(dirname "$0")/.."
cargo build --profile "$profile" --target "$target" --bin daefr "${extra[@]+"${extra[@]}"}"

target_dir="$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
bin="$target_dir/$target/$profile/daefr"
size=$(stat -c %s "$bin")
echo "built $bin ($(( (size + 524288) / 1048576 )) MiB, $size bytes)"
echo "try it here: $qemu -L $sysroot $bin --version"
