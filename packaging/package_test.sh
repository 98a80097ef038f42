#!/usr/bin/env bash
# `make package-test`: smoke-test the built bundle (dist/cvstudio) the way a user without Python runs it.
#
#   1. what must be inside: torchvision's compiled ops, the Qt platform plugins (xcb, wayland, offscreen),
#      the app's resources and metadata; and what must not: NVIDIA libraries in the cpu variant;
#   2. the command line answers (--version, presets) from outside any virtual environment
#      (env -i: no PYTHONPATH, no VIRTUAL_ENV, PATH without the venv), from another working directory;
#   3. `cvstudio --self-test`: torch and torchvision ops, scipy.io, one epoch of training, checkpoint
#      save/reload, classifying a PNG, TorchScript/ONNX export, the main window (offscreen);
#   4. under Xvfb with the xcb platform too, where xvfb-run is installed;
#   5. the archives: the .deb's control data and file list, the tarball's install script.
# Exits non-zero with a message on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
APP=$ROOT/dist/cvstudio
BIN=$APP/cvstudio
INTERNAL=$APP/_internal
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

[ -x "$BIN" ] || fail "no bundle at dist/cvstudio: run 'make package' first"

step "bundle contents"
ls "$INTERNAL"/torchvision/_C*.so >/dev/null 2>&1 \
  || fail "torchvision's compiled ops (torchvision/_C*.so) are not in the bundle: nms would not exist"
for plugin in libqxcb.so libqwayland.so libqoffscreen.so; do
  [ -f "$INTERNAL/PySide6/Qt/plugins/platforms/$plugin" ] || fail "Qt platform plugin $plugin is not in the bundle"
done
[ -f "$INTERNAL/cvstudio/resources/cvstudio-256.png" ] || fail "cvstudio/resources is not in the bundle"
ls -d "$INTERNAL"/cvstudio-*.dist-info >/dev/null 2>&1 || fail "cvstudio's package metadata is not in the bundle"
if [ ! -e "$INTERNAL/torch/lib/libtorch_cuda_linalg.so" ]; then  # the cpu variant
  big=$(find "$INTERNAL/nvidia" -name '*.so*' -size +1M 2>/dev/null | head -3)
  [ -z "$big" ] || fail "cpu variant carries real NVIDIA libraries: $big"
fi
echo "ok: torchvision ops library, Qt platform plugins (xcb, wayland, offscreen), resources, metadata"
echo "folder: $(du -sh "$APP" | cut -f1) ($(find "$APP" -type f | wc -l) files)"

clean_env=(env -i HOME="$(mktemp -d)" PATH=/usr/bin:/bin LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}")
cd /  # resources must not come from the working directory

step "command line, outside any virtual environment"
"${clean_env[@]}" "$BIN" --version | grep -q '^cvstudio ' || fail "cvstudio --version"
"${clean_env[@]}" "$BIN" presets | grep -q convnet || fail "cvstudio presets lists no convnet"
"${clean_env[@]}" "$BIN" --version

step "cvstudio --self-test (offscreen)"
start_ms=$(($(date +%s%N) / 1000000))
"${clean_env[@]}" "$BIN" --self-test || fail "the self-test failed (its output above says where)"
end_ms=$(($(date +%s%N) / 1000000))
echo "cvstudio --self-test took $(( (end_ms - start_ms) / 1000 )).$(( (end_ms - start_ms) % 1000 / 100 )) s (wall clock)"

if command -v xvfb-run >/dev/null 2>&1 && [ "${PACKAGE_TEST_XCB:-1}" = 1 ]; then
  missing=$(ldd "$INTERNAL/PySide6/Qt/plugins/platforms/libqxcb.so" "$INTERNAL/PySide6/Qt/lib/libQt6XcbQpa.so.6" \
    2>/dev/null | grep 'not found' | sort -u || true)
  if [ -n "$missing" ]; then
    echo "skipping the X11 run: the system lacks $(echo "$missing" | awk '{print $1}' | tr '\n' ' ')"
    echo "(the .deb depends on them; Debian: apt-get install libxcb-cursor0 libxkbcommon-x11-0 ...)"
  else
    step "cvstudio selftest --quick under Xvfb (xcb platform)"
    "${clean_env[@]}" QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" "$BIN" selftest --quick \
      || fail "the self-test failed on the xcb platform"
  fi
fi
cd "$ROOT"

step "archives"
deb=$(ls dist/cvstudio_*_amd64*.deb 2>/dev/null | head -1 || true)
if [ -n "$deb" ] && command -v dpkg-deb >/dev/null; then
  dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' '; echo
  listing=$(dpkg-deb -c "$deb")
  for path in ./usr/bin/cvstudio ./opt/cvstudio/cvstudio ./usr/share/applications/cvstudio.desktop \
      ./usr/share/mime/packages/cvstudio.xml ./usr/share/icons/hicolor/256x256/apps/cvstudio.png \
      ./usr/share/icons/hicolor/scalable/apps/cvstudio.svg; do
    grep -q " $path" <<<"$listing" || fail "$deb lacks $path"
  done
  echo "ok: $deb ($(du -h "$deb" | cut -f1)): program, /usr/bin link, desktop entry, MIME type, icons"
fi
tarball=$(ls dist/cvstudio-*-linux-x86_64*.tar.gz 2>/dev/null | head -1 || true)
if [ -n "$tarball" ]; then
  names=$(tar -tzf "$tarball")  # all of it: `| head` would end tar with SIGPIPE, a failure under pipefail
  grep -q '/install.sh$' <<<"$names" || fail "$tarball has no install.sh"
  grep -q '/cvstudio/cvstudio$' <<<"$names" || fail "$tarball has no cvstudio/cvstudio"
  echo "ok: $tarball ($(du -h "$tarball" | cut -f1)): install.sh, cvstudio/"
fi
echo
echo "package-test passed"
