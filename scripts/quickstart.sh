#!/usr/bin/env bash
# One command to set everything up and then either run the demo or the tests.
#   bash scripts/quickstart.sh demo   # napari with the dark sample and the Enhance widget
#                                     # (no display: the same enhancement on the command line)
#   bash scripts/quickstart.sh test   # the test suite, under Xvfb
set -euo pipefail
cd "$(dirname "$0")/.."
task="${1:-demo}"
PYTHON="${PYTHON:-python3}"

# napari needs OpenGL and Qt's X libraries, and the tests a virtual display (Xvfb): the offscreen
# Qt platform crashes on image layers.
system_packages=(xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0
  libxcb-shape0 libdbus-1-3 libfontconfig1)
install_system_packages() {
  if command -v xvfb-run >/dev/null && ldconfig -p | grep -q libxcb-cursor; then return; fi
  if ! command -v apt-get >/dev/null; then
    echo "Install Xvfb and Qt's X libraries with your package manager: ${system_packages[*]}" >&2
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${system_packages[@]}" >/dev/null
}

# torch first, pinned to the CPU build this project is developed with (the newest torch on the
# index is a multi-GB CUDA build); the package itself asks only for torch>=2.4.
"$PYTHON" -m pip install -q "torch==2.13.0"
"$PYTHON" -m pip install -q -e ".[testing]"

case "$task" in
  demo)
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      echo "No display found: running the enhancement from the command line."
    fi
    exec napari-darkvision demo
    ;;
  test)
    install_system_packages
    exec xvfb-run -a "$PYTHON" -m pytest -q "${@:2}"
    ;;
  *)
    echo "usage: bash scripts/quickstart.sh demo|test [pytest args]" >&2
    exit 2
    ;;
esac
