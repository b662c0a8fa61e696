#!/usr/bin/env bash
# VAE Explorer set-up and launcher.
#   ./run.sh          set up everything (virtual environment, packages, data) and open the GUI
#   ./run.sh test     set up everything and run the whole test suite (offscreen, no display needed)
#   ./run.sh cli ARGS run the command line, e.g. ./run.sh cli train --help
#   ./run.sh gui ARGS the GUI with options, e.g. ./run.sh gui --weights my_model.npz
# Paths you give are taken from the folder you run it in (the set-up runs in the project's folder).
set -euo pipefail
CALLER_DIR=$PWD
PROJECT=$(dirname "$(readlink -f "$0")")
cd "$PROJECT"
PY=${PYTHON:-python3}
VENV=$(readlink -f "${VAE_VENV:-.venv}")  # VAE_VENV: another virtual environment (tests use one of their own)

need_root_or_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
      echo "python3 -m venv failed; installing Debian's python3-venv" >&2
      rm -rf "$VENV"
      apt_install python3-venv \
        || { echo "please install python3-venv (apt-get install python3-venv) and run again" >&2; exit 1; }
      "$PY" -m venv "$VENV"
    fi
  fi
  local reqs=$1 stamp="$VENV/.installed-$1"
  local want; want=$(cat requirements.txt "$reqs" pyproject.toml | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r "$reqs"
    # the project itself importable from anywhere (core, vae_gui, cli, main): one .pth line naming this folder,
    # what an editable install in setuptools' deprecated "compat" mode wrote, without its warning banner
    "$VENV/bin/python" - "$PROJECT" <<'PTH'
import pathlib, sys, sysconfig
pathlib.Path(sysconfig.get_paths()["purelib"], "vae_explorer_project.pth").write_text(sys.argv[1] + "\n")
PTH
    echo "$want" > "$stamp"
  fi
}

ensure_data() {
  # The program downloads the Frey faces itself (checksum verified); a copy beside the project is used first.
  if [ -z "${VAE_DATA:-}" ] && [ ! -f data/frey_rawface.mat ] && [ -f ../shared/data/frey_rawface.mat ]; then
    cp ../shared/data/frey_rawface.mat data/frey_rawface.mat
  fi
  "$VENV/bin/python" -c "from core.data import ensure_data; print('data:', ensure_data())" \
    || echo "warning: the Frey data could not be had; the GUI still opens (File → Load data…)" >&2
}

apt_install() {
  # apt quietly: one line says what is installed, apt's own output only when it fails
  echo "installing $* (apt-get)" >&2
  local log; log=$(mktemp)
  if need_root_or_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
     && need_root_or_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  cat "$log" >&2
  rm -f "$log"
  return 1
}

ensure_xcb_libs() {
  # PyQt6's xcb window needs these Debian packages; offscreen tests do not. The linker cache is read
  # once into a variable: 'ldconfig -p | grep -q' under pipefail misreports when grep exits early
  # and ldconfig dies of SIGPIPE.
  local cache missing=()
  cache=$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true)
  for lib in libxcb-cursor.so.0:libxcb-cursor0 libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1; do
    [[ $cache == *"${lib%%:*}"* ]] || missing+=("${lib##*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || { echo "please run: sudo apt-get install ${missing[*]}" >&2; exit 1; }
  fi
}

case "${1:-gui}" in
  gui)
    ensure_venv requirements.txt
    ensure_data
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${QT_QPA_PLATFORM:-}" != offscreen ]; then
      echo "no display found (DISPLAY is unset): start it from a desktop session, or under Xvfb" >&2
      exit 1
    fi
    [ "${QT_QPA_PLATFORM:-xcb}" = xcb ] && ensure_xcb_libs
    cd "$CALLER_DIR"
    exec "$VENV/bin/python" "$PROJECT/main.py" gui "${@:2}"
    ;;
  test)
    ensure_venv requirements-dev.txt
    ensure_data
    export QT_QPA_PLATFORM=offscreen
    # one pytest worker per core (pytest-xdist): 3.5 instead of 6.5 minutes on a 2-core machine; -n 0 runs in-process
    exec "$VENV/bin/python" -m pytest -q -n auto "${@:2}"
    ;;
  cli)
    ensure_venv requirements.txt
    cd "$CALLER_DIR"
    exec "$VENV/bin/python" "$PROJECT/main.py" "${@:2}"
    ;;
  *)
    echo "usage: ./run.sh [gui|test|cli ARGS]" >&2
    exit 2
    ;;
esac
