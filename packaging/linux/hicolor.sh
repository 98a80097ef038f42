#!/usr/bin/env bash
# Lay out the freedesktop icon theme tree DEST/hicolor/<size>/apps/cvstudio.{png,svg} from the icons the
# package itself ships (cvstudio/resources), so the installers never need a second, drifting copy.
set -euo pipefail
dest=${1:?usage: hicolor.sh DEST}
here="$(cd "$(dirname "$0")/../.." && pwd)"
for png in "$here"/cvstudio/resources/cvstudio-*.png; do
  size=${png##*cvstudio-}; size=${size%.png}
  install -D -m 644 "$png" "$dest/hicolor/${size}x${size}/apps/cvstudio.png"
done
install -D -m 644 "$here/cvstudio/resources/cvstudio.svg" "$dest/hicolor/scalable/apps/cvstudio.svg"
