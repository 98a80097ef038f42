#!/usr/bin/env bash
# Build CV Studio for macOS: dist/CV Studio.app and dist/CVStudio-<version>-macos-<arch>.dmg
#
#   bash packaging/macos/build.sh
#
# Needs: macOS 12+, Python 3.11 from python.org or Homebrew (python3.11 on PATH), Xcode command line
# tools (codesign, hdiutil come with macOS). PyPI's torch for macOS is CPU + MPS (Apple GPU): no variant.
# Steps: a build venv (packaging/.build-venv) with the pinned stack, the project as a wheel, PyInstaller
# with packaging/cvstudio.spec (BUNDLE: Info.plist with the .safetensors document type, the icon), the
# bundle's self-test, an ad-hoc signature, then a compressed disk image with an Applications link.
# Distributing outside your own Macs needs a Developer ID signature and notarization: set
# CODESIGN_IDENTITY="Developer ID Application: ..." and run `xcrun notarytool` on the .dmg afterwards.
# NOT TESTED: written on Linux, where it cannot run (see README, "Installing / packaging").
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3.11}
VENV=packaging/.build-venv
[ "$(uname -s)" = Darwin ] || { echo "packaging/macos/build.sh runs on macOS" >&2; exit 2; }

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --upgrade pip
  "$VENV/bin/python" -m pip install -r packaging/requirements.txt -r packaging/requirements-build.txt
fi
"$VENV/bin/python" -m pip install --no-deps --no-build-isolation --force-reinstall .
VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cvstudio"))')

rm -rf dist/cvstudio "dist/CV Studio.app"
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/cvstudio.spec
APP="dist/CV Studio.app"
"$APP/Contents/MacOS/cvstudio" --self-test

codesign --force --deep --options runtime --sign "${CODESIGN_IDENTITY:--}" "$APP"

DMG="dist/CVStudio-$VERSION-macos-$(uname -m).dmg"
stage=build/dmg
rm -rf "$stage" "$DMG" && mkdir -p "$stage"
cp -R "$APP" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "CV Studio $VERSION" -srcfolder "$stage" -fs HFS+ -format UDZO -imagekey zlib-level=9 -ov "$DMG"
du -sh "$APP" "$DMG"
