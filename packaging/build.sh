#!/usr/bin/env bash
# Build CV Studio's Linux packages from a clean checkout: `make package` runs this.
#
#   1. a build virtual environment, packaging/.build-venv, with the pinned
#      runtime stack (requirements.txt) and PyInstaller
#      (requirements-build.txt); rebuilt only when those files change;
#   2. the project installed into it (a wheel, so its metadata is there);
#   3. PyInstaller with packaging/cvstudio.spec -> dist/cvstudio/ (one folder);
#   4. dist/cvstudio-VERSION-linux-x86_64.tar.gz (folder + install.sh) and
#      dist/cvstudio_VERSION_amd64.deb (/opt/cvstudio, /usr/bin/cvstudio,
#      desktop entry, icons, MIME type for .safetensors checkpoints).
#
# Environment: PYTHON (default python3, 3.10+ with its shared library),
# CVSTUDIO_VARIANT=cpu|cuda (see cvstudio.spec), BUILD_VENV (default
# packaging/.build-venv), TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu
# for CPU-only torch wheels; see README), PACKAGE_FORMATS (default "tar deb").
# Needs: readelf and cc (binutils, gcc: the cpu variant's CUDA stand-ins), dpkg-deb for the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-python3}
VARIANT=${CVSTUDIO_VARIANT:-cpu}
VENV=${BUILD_VENV:-packaging/.build-venv}
FORMATS=${PACKAGE_FORMATS:-tar deb}
REQS=(packaging/requirements.txt packaging/requirements-build.txt)
export CVSTUDIO_VARIANT=$VARIANT

say() { printf '\n== %s\n' "$*"; }
t_start=$(date +%s)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "packaging/build.sh builds the Linux x86_64 bundle; see packaging/windows and packaging/macos" >&2; exit 2 ;;
esac
if [ "$VARIANT" = cpu ] && [ -z "${TORCH_INDEX_URL:-}" ]; then
  for tool in readelf cc; do
    command -v "$tool" >/dev/null || { echo "build.sh: '$tool' is needed (Debian: apt-get install binutils gcc)" >&2; exit 2; }
  done
fi

# --- 1. build venv -----------------------------------------------------------------------------
stamp="$VENV/.cvstudio-build-stamp"
want_stamp="$(cat "${REQS[@]}" | sha256sum | cut -c1-16) ${TORCH_INDEX_URL:-pypi}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  say "build venv $VENV (pinned versions)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    # CPU-only (or another CUDA) torch: torch and torchvision from that index, the rest from PyPI
    grep -E '^(torch|torchvision)==' packaging/requirements.txt \
      | sed -E 's/(==[^ ]+).*/\1/' > "$VENV/torch-pins.txt"
    "$VENV/bin/python" -m pip install --quiet --index-url "$TORCH_INDEX_URL" -r "$VENV/torch-pins.txt"
  fi
  "$VENV/bin/python" -m pip install --quiet "${REQS[@]/#/-r}"
  echo "$want_stamp" > "$stamp"
fi
PY="$VENV/bin/python"

# --- 2. the project ----------------------------------------------------------------------------
say "install cvstudio into the build venv"
rm -rf build/lib build/bdist.*  # a stale build/lib would put deleted modules into the wheel
"$PY" -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("cvstudio"))')

# --- 3. PyInstaller ----------------------------------------------------------------------------
say "PyInstaller: dist/cvstudio ($VARIANT variant, cvstudio $VERSION)"
rm -rf dist/cvstudio
# the pyinstaller script, not `python -m PyInstaller`: the latter puts the working directory (this source
# tree) first on sys.path, and the bundle must take cvstudio from the wheel installed above
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/cvstudio.spec
test -x dist/cvstudio/cvstudio

# what the bundle needs from the system, for the record (and the .deb's Depends)
"$PY" packaging/linux/system_deps.py dist/cvstudio > build/system-libs.txt || true

# --- 4. archives -------------------------------------------------------------------------------
SUFFIX=""; [ "$VARIANT" = cuda ] && SUFFIX=-cuda
ARCH_NAME="cvstudio-$VERSION-linux-x86_64$SUFFIX"
if [[ " $FORMATS " == *" tar "* ]]; then
  say "dist/$ARCH_NAME.tar.gz"
  stage=build/tar/$ARCH_NAME
  rm -rf build/tar && mkdir -p "$stage/share"
  cp -al dist/cvstudio "$stage/cvstudio" 2>/dev/null || cp -a dist/cvstudio "$stage/cvstudio"
  cp packaging/linux/install.sh "$stage/install.sh"
  cp resources/cvstudio.desktop resources/cvstudio-mime.xml "$stage/share/"
  bash packaging/linux/hicolor.sh "$stage/share/icons"
  sed -e "s/@VERSION@/$VERSION/" -e "s/@VARIANT@/$VARIANT/" packaging/linux/README.txt > "$stage/README.txt"
  tar -C build/tar -cf - "$ARCH_NAME" | gzip -6 > "dist/$ARCH_NAME.tar.gz"
fi
if [[ " $FORMATS " == *" deb "* ]]; then
  if command -v dpkg-deb >/dev/null; then
    say "dist/cvstudio_${VERSION}_amd64.deb"
    VERSION=$VERSION VARIANT=$VARIANT bash packaging/linux/make_deb.sh
  else
    echo "build.sh: dpkg-deb not found, no .deb built (the tarball has an install script)" >&2
  fi
fi

say "done in $(( $(date +%s) - t_start )) s"
du -sh dist/cvstudio
ls -l dist/*.tar.gz dist/*.deb 2>/dev/null || true
