#!/usr/bin/env bash
# Set up dormant in ./.venv: Mesa for headless MuJoCo rendering (Debian/Ubuntu, when
# root), then the package with every suite (DMC, MetaWorld, Adroit), Ray for sweeps
# on a cluster, and their pinned,
# tested versions (constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

GL_PACKAGES="libosmesa6 libegl1 libgl1-mesa-dri"
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s $GL_PACKAGES >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $GL_PACKAGES >/dev/null
  else
    echo "warning: install $GL_PACKAGES (e.g. sudo apt-get install $GL_PACKAGES) for pixel rendering" >&2
  fi
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all,test,docs]"
.venv/bin/python -m pip check
