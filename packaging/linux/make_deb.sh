#!/usr/bin/env bash
# Wrap dist/cvstudio (PyInstaller one-folder build) into dist/cvstudio_VERSION_amd64.deb:
#   /opt/cvstudio/                          the application folder
#   /usr/bin/cvstudio -> /opt/cvstudio/cvstudio
#   /usr/share/applications/cvstudio.desktop
#   /usr/share/mime/packages/cvstudio.xml   application/x-cvstudio-checkpoint = *.safetensors
#   /usr/share/icons/hicolor/*/apps/cvstudio.{png,svg} (+ the same as the checkpoint MIME icon)
# Called by packaging/build.sh with VERSION and VARIANT set; needs dpkg-deb (and fakeroot where not root).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?}" "${VARIANT:=cpu}"
PKG=cvstudio
SUFFIX=""; WHAT="trains on the CPU; for NVIDIA GPUs install the cuda build or 'pip install cvstudio'."
if [ "$VARIANT" = cuda ]; then SUFFIX=-cuda; WHAT="trains on NVIDIA GPUs or the CPU."; fi
DEB=dist/${PKG}_${VERSION}_amd64$SUFFIX.deb
root=build/deb/root
rm -rf build/deb && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/mime/packages" "$root/usr/share/doc/$PKG"

cp -al dist/cvstudio "$root/opt/cvstudio" 2>/dev/null || cp -a dist/cvstudio "$root/opt/cvstudio"
ln -s /opt/cvstudio/cvstudio "$root/usr/bin/cvstudio"
install -m 644 resources/cvstudio.desktop "$root/usr/share/applications/cvstudio.desktop"
install -m 644 resources/cvstudio-mime.xml "$root/usr/share/mime/packages/cvstudio.xml"
bash packaging/linux/hicolor.sh build/deb/icons
for dir in build/deb/icons/hicolor/*/apps; do
  size=$(basename "$(dirname "$dir")")
  for icon in "$dir"/cvstudio.*; do
    ext=${icon##*.}
    install -D -m 644 "$icon" "$root/usr/share/icons/hicolor/$size/apps/cvstudio.$ext"
    install -D -m 644 "$icon" "$root/usr/share/icons/hicolor/$size/mimetypes/application-x-cvstudio-checkpoint.$ext"
  done
done
cat > "$root/usr/share/doc/$PKG/copyright" <<EOF
CV Studio $VERSION - MIT license.
Bundles Python, PyTorch (BSD-3-Clause), torchvision (BSD-3-Clause), Qt/PySide6 (LGPL-3.0),
pyqtgraph (MIT), NumPy and SciPy (BSD-3-Clause), Pillow (MIT-CMU), safetensors and ONNX (Apache-2.0),
ONNX Runtime (MIT) and their dependencies; their licence files are inside /opt/cvstudio/_internal.
EOF

# Libraries the bundle takes from the system (the list SYSTEM_LIBS in cvstudio.spec keeps out of it),
# as Debian 12 / Ubuntu 22.04 package names. Checked with packaging/linux/system_deps.py.
DEPENDS="libc6 (>= 2.35), libstdc++6 (>= 12), libgcc-s1, libuuid1, libzstd1, libglib2.0-0, libdbus-1-3,
 libfontconfig1, libfreetype6, libgl1, libegl1, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-glx0,
 libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render0, libxcb-render-util0, libxcb-shape0,
 libxcb-shm0, libxcb-sync1, libxcb-util1, libxcb-xfixes0, libxcb-xkb1, libxkbcommon0, libxkbcommon-x11-0,
 libwayland-client0, libwayland-cursor0, libwayland-egl1"
installed_kb=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Section: science
Priority: optional
Architecture: amd64
Maintainer: CV Studio maintainers <cvstudio@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: $(echo "$DEPENDS" | tr -d '\n')
Recommends: fonts-dejavu-core | fonts-liberation2, xdg-utils
Description: desktop workbench for computer vision with PyTorch
 CV Studio takes you from a folder of images (or a standard dataset) to a
 trained, inspected image classifier, without writing code and without hiding
 the PyTorch underneath. Self-contained: PyTorch, torchvision and Qt are
 bundled in /opt/cvstudio; no Python installation is needed.
 .
 This build ($VARIANT variant) $WHAT
EOF
cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  command -v update-mime-database >/dev/null && update-mime-database /usr/share/mime || true
  command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0
EOF
cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
  command -v update-mime-database >/dev/null && update-mime-database /usr/share/mime || true
  command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0
EOF
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

# zstd -10: 15 % smaller than gzip -6 and as fast; every dpkg that can run this bundle (glibc 2.35+:
# Debian 12, Ubuntu 22.04 and later) reads it. xz -1 is 5 % smaller again but 4x slower to build.
if [ "$(id -u)" = 0 ]; then
  dpkg-deb --root-owner-group -Zzstd -z10 --threads-max="$(nproc)" --build "$root" "$DEB" >/dev/null
else
  fakeroot dpkg-deb -Zzstd -z10 --threads-max="$(nproc)" --build "$root" "$DEB" >/dev/null
fi
echo "$DEB: $(du -h "$DEB" | cut -f1), installs $((installed_kb / 1024)) MiB"
