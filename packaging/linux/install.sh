#!/bin/sh
# Install CV Studio from the unpacked tarball (cvstudio-VERSION-linux-x86_64/):
#
#   ./install.sh               as root: /opt/cvstudio, /usr/local/bin/cvstudio, /usr/local/share/...
#                              as a user: ~/.local/opt/cvstudio, ~/.local/bin/cvstudio, ~/.local/share/...
#   ./install.sh --prefix DIR  DIR/opt/cvstudio, DIR/bin/cvstudio, DIR/share/...
#   ./install.sh --uninstall   remove what the same command installed
#
# Adds the desktop menu entry, the icons and the MIME type of .safetensors
# checkpoints (double-click opens them in CV Studio). Needs no Python. The
# system must provide the usual desktop libraries (X11/xcb or Wayland, OpenGL,
# fontconfig, GLib, D-Bus), as every Linux desktop does; README.txt lists them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then prefix=/usr/local; app_dir=/opt/cvstudio; else prefix=$HOME/.local; app_dir=; fi
action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; app_dir=; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$app_dir" ] || app_dir=$prefix/opt/cvstudio
share=$prefix/share

refresh() {
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$share/mime" >/dev/null 2>&1 || true
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t -f "$share/icons/hicolor" 2>/dev/null || true
}

if [ "$action" = uninstall ]; then
  rm -rf "$app_dir"
  rm -f "$prefix/bin/cvstudio" "$share/applications/cvstudio.desktop" "$share/mime/packages/cvstudio.xml"
  find "$share/icons/hicolor" \( -name cvstudio.png -o -name cvstudio.svg -o -name 'application-x-cvstudio-checkpoint.*' \) \
    -delete 2>/dev/null || true
  refresh
  echo "CV Studio removed from $app_dir"
  exit 0
fi

[ -x "$here/cvstudio/cvstudio" ] || { echo "install.sh: run it from the unpacked archive (cvstudio/ is missing)" >&2; exit 1; }
mkdir -p "$(dirname "$app_dir")" "$prefix/bin" "$share/applications" "$share/mime/packages"
rm -rf "$app_dir.new"
cp -a "$here/cvstudio" "$app_dir.new"
rm -rf "$app_dir" && mv "$app_dir.new" "$app_dir"
ln -sf "$app_dir/cvstudio" "$prefix/bin/cvstudio"
# the menu entry names the program by its full path: ~/.local/bin may not be on a desktop session's PATH
sed -e "s|^Exec=cvstudio |Exec=$app_dir/cvstudio |" -e "s|^TryExec=cvstudio|TryExec=$app_dir/cvstudio|" \
  "$here/share/cvstudio.desktop" > "$share/applications/cvstudio.desktop"
cp "$here/share/cvstudio-mime.xml" "$share/mime/packages/cvstudio.xml"
for dir in "$here"/share/icons/hicolor/*/apps; do
  size=$(basename "$(dirname "$dir")")
  for icon in "$dir"/cvstudio.*; do
    ext=${icon##*.}
    mkdir -p "$share/icons/hicolor/$size/apps" "$share/icons/hicolor/$size/mimetypes"
    cp "$icon" "$share/icons/hicolor/$size/apps/cvstudio.$ext"
    cp "$icon" "$share/icons/hicolor/$size/mimetypes/application-x-cvstudio-checkpoint.$ext"
  done
done
refresh
echo "CV Studio installed in $app_dir; run 'cvstudio' ($prefix/bin) or pick it from the desktop menu."
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on your PATH" ;; esac
echo "check it with: $app_dir/cvstudio --self-test"
