#!/usr/bin/env bash
# One command to set everything up and then either run the demo or the tests.
#   bash scripts/quickstart.sh demo   # napari with the dark sample and the Enhance widget
#                                     # (no display: the same enhancement on the command line)
#   bash scripts/quickstart.sh test   # the test suite, under Xvfb (more pytest arguments may follow)
#   bash scripts/quickstart.sh setup  # only the environment
# Everything goes into a virtual environment, .venv in the checkout (made by $PYTHON, default
# python3, and reused on the next run), so it works with a system Python that refuses pip (PEP 668).
set -euo pipefail
cd "$(dirname "$0")/.."
task="${1:-demo}"
PYTHON="${PYTHON:-python3}"
VENV=.venv

case "$task" in
  demo | test | setup) ;;
  *)
    echo "usage: bash scripts/quickstart.sh demo|test|setup [pytest args]" >&2
    exit 2
    ;;
esac

# Runs a command as root: directly when root, through sudo otherwise; fails when neither is possible.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    return 1
  fi
}

# Installs Debian/Ubuntu packages quietly; returns non-zero (printing apt's error) when it cannot.
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || return 1
  local log
  log="$(mktemp)"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
    apt_updated=1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# A Debian or Ubuntu Python makes virtual environments only with its pythonX.Y-venv package.
ensure_venv_module() {
  if "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then return; fi
  local package
  package="python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
  echo "$PYTHON cannot make a virtual environment; installing $package." >&2
  if ! apt_install "$package"; then
    echo "Install $package (sudo apt-get install $package), or set PYTHON to a Python that has venv." >&2
    exit 1
  fi
}

if ! "$VENV/bin/python" -c "" 2>/dev/null; then
  command -v "$PYTHON" >/dev/null || { echo "No $PYTHON found: install Python 3.10 or newer." >&2; exit 1; }
  ensure_venv_module
  echo "Making the virtual environment $VENV with $PYTHON."
  "$PYTHON" -m venv --clear "$VENV"
fi
python="$VENV/bin/python"

# torch first, pinned to the CPU build this project is developed with (the newest torch on the
# index is a multi-GB CUDA build); the package itself asks only for torch>=2.4.
"$python" -m pip install -q "torch==2.13.0"
"$python" -m pip install -q -e ".[testing]"
echo "The environment is $VENV: to use it yourself, 'source $VENV/bin/activate'."

# napari needs OpenGL and Qt's X libraries, and the tests a virtual display (Xvfb): the offscreen
# Qt platform crashes on image layers.
qt_packages=(xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0
  libxcb-shape0 libdbus-1-3 libfontconfig1)
# Other raw developers, which the DNG tests open our files with (those tests skip without them).
raw_tool_packages=(darktable rawtherapee dcraw libimage-exiftool-perl)
install_test_tools() {
  if ! { command -v xvfb-run >/dev/null && ldconfig -p | grep -q libxcb-cursor; }; then
    apt_install "${qt_packages[@]}" ||
      echo "Install Xvfb and Qt's X libraries with your package manager: ${qt_packages[*]}" >&2
  fi
  local tool missing=""
  for tool in darktable-cli rawtherapee-cli dcraw exiftool; do
    command -v "$tool" >/dev/null || missing=1
  done
  if [ -n "$missing" ]; then
    apt_install --no-install-recommends "${raw_tool_packages[@]}" ||
      echo "The raw developers are not installed (${raw_tool_packages[*]}): their tests skip." >&2
  fi
}

case "$task" in
  demo)
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      echo "No display found: running the enhancement from the command line."
    fi
    exec "$VENV/bin/napari-darkvision" demo
    ;;
  test)
    install_test_tools
    if command -v xvfb-run >/dev/null; then
      exec xvfb-run -a "$python" -m pytest -q "${@:2}"
    fi
    echo "No xvfb-run: the napari tests skip." >&2
    exec "$python" -m pytest -q "${@:2}"
    ;;
esac
