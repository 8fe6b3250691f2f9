#!/usr/bin/env bash
# The exported folder on arm64, emulated: a Debian arm64 user space (debootstrap --foreign, its
# packages unpacked, run through qemu-aarch64 without binfmt or chroot), numpy and LiteRT's aarch64
# wheels from PyPI, then `python -m competition.device classify` on a sample of clips, compared with
# the same command on this machine, and benchmarks/device.py's timing. Not part of CI.
#
#   benchmarks/arm_check.sh EXPORT_FOLDER CLIP_FOLDER [N_CLIPS=40] [ROOT=/tmp/arm64-root]
#
# Emulated time is not a Raspberry Pi's: qemu translates every instruction (docs/device.md).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=$(realpath "$1"); clips=$(realpath "$2"); n=${3:-40}; root=${4:-/tmp/arm64-root}
python=${PYTHON:-python3}  # the host's: any Python with numpy and ai-edge-litert (the base install)
wheels=$root.wheels
# LiteRT 2.3.0's aarch64 wheel dies of SIGSEGV while loading a model under Debian 12's qemu-aarch64 7.2
# (with -cpu max or cortex-a72 too, and without the XNNPACK delegate); 1.4.0 runs. A Pi installs the newest.
litert=${LITERT:-ai-edge-litert==1.4.0}

if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap
fi
if [ ! -x "$root/usr/bin/python3.11" ]; then
    # --foreign unpacks the packages without running their scripts: nothing needs to run as arm64 here
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm "$root" \
        http://deb.debian.org/debian >/dev/null
    for deb in "$root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
fi
if [ ! -d "$wheels/numpy" ]; then
    # bookworm's Python is 3.11 and its glibc 2.36: every manylinux tag up to 2_28 runs there. pip matches
    # --platform tags one by one, so each is named (LiteRT 2.x ships manylinux_2_27_aarch64 wheels only)
    "$python" -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
        --platform manylinux_2_17_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
        --python-version 3.11 --implementation cp -d "$wheels.download" numpy "$litert"
    mkdir -p "$wheels"
    for wheel in "$wheels.download"/*.whl; do "$python" -m zipfile -e "$wheel" "$wheels"; done
fi
arm() {  # the arm64 Python, emulated, with the wheels and this checkout's package (nothing else) on its path
    PYTHONPATH="$wheels:$PWD" PYTHONNOUSERSITE=1 qemu-aarch64-static -L "$root" "$root/usr/bin/python3.11" "$@"
}
arm -c 'import platform, numpy, importlib.metadata as m, importlib.util as u
print(platform.machine(), platform.python_version(), "numpy", numpy.__version__, "ai-edge-litert",
      m.version("ai-edge-litert"),
      "tensorflow importable:", u.find_spec("tensorflow") is not None)'
mapfile -t sample < <(find "$clips" -maxdepth 1 -name '*.wav' | sort | head -n "$n")
host=$(mktemp); emulated=$(mktemp)
PYTHONPATH=$PWD "$python" -m competition.device classify "$folder" "${sample[@]}" 2>/dev/null > "$host"
arm -m competition.device classify "$folder" "${sample[@]}" 2>/dev/null > "$emulated"
echo "clips: $(wc -l < "$host"); labels differing (x86-64 vs emulated arm64):" \
     "$(paste -d' ' <(cut -d' ' -f2 "$host") <(cut -d' ' -f2 "$emulated") | awk '$1 != $2' | wc -l)"
echo "largest top-3 probability difference: $(paste "$host" "$emulated" | "$python" -c '
import re, sys
d = 0.0
for line in sys.stdin:
    a, b = line.split("\t")
    d = max([d] + [abs(float(x) - float(y)) for x, y in zip(re.findall(r"\d\.\d{3}", a), re.findall(r"\d\.\d{3}", b))])
print(f"{d:.3f}")')"
arm benchmarks/device.py "$folder" "${sample[@]:0:5}" --repeats "${REPEATS:-20}"
rm -f "$host" "$emulated"
