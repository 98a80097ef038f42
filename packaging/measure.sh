#!/usr/bin/env bash
# Sizes and start-up times of the built bundle, as reported in README.md ("Installing / packaging").
#   bash packaging/measure.sh [RUNS]     (after `make package`; RUNS of each timing, default 5)
# first_paint_s: from exec() of the bundled program to the main window's first paint (offscreen),
#   via the app's CVSTUDIO_BENCH_FIRST_PAINT hook (gui/app.py); ready_s: until PyTorch is loaded and
#   the built-in dataset and the convnet are set (CVSTUDIO_BENCH_READY). Medians of RUNS warm runs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=dist/cvstudio/cvstudio
[ -x "$BIN" ] || { echo "measure.sh: run 'make package' first" >&2; exit 1; }
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
run() {  # run VAR: one timing, printed as seconds
  env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen CVSTUDIO_HOME="$home/cv" \
    "$1=1" CVSTUDIO_LAUNCH_T0="$(date +%s.%N)" "$BIN" 2>/dev/null | grep -o "$2=[0-9.]*" | cut -d= -f2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "folder      $(du -sh dist/cvstudio | cut -f1)  ($(du -sb dist/cvstudio | cut -f1) bytes, $(find dist/cvstudio -type f | wc -l) files)"
for f in dist/*.tar.gz dist/*.deb; do [ -e "$f" ] && echo "archive     $(du -h "$f" | cut -f1)  ($(stat -c %s "$f") bytes)  $f"; done
run CVSTUDIO_BENCH_FIRST_PAINT first_paint_s >/dev/null  # warm the page cache
echo "first paint $(for _ in $(seq "$RUNS"); do run CVSTUDIO_BENCH_FIRST_PAINT first_paint_s; done | median) s (median of $RUNS)"
echo "ready       $(for _ in $(seq "$RUNS"); do run CVSTUDIO_BENCH_READY ready_s; done | median) s (median of $RUNS)"
start=$(date +%s%N)
env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$BIN" --self-test >/dev/null 2>&1
echo "self-test   $(( ($(date +%s%N) - start) / 10000000 ))e-2 s (cvstudio --self-test, wall clock)" | sed -E 's/([0-9]+)([0-9]{2})e-2/\1.\2/'
