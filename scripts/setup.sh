#!/usr/bin/env bash
# Installs what the build and the tests need when it is missing: the HDF5 C
# library (Debian's libhdf5-dev, with pkg-config) and a Python virtual
# environment in .venv with numpy, h5py, matplotlib and pandas; then builds the C
# library librbp (release) and installs the Python package `rbp` (python/)
# into .venv in editable mode. Safe to run again: it only installs what is
# absent, and the library build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pkg-config --exists hdf5 2>/dev/null || need_apt+=(libhdf5-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The environment is made while the library builds (the build keeps one
# core busy, pip mostly waits on the network and the other core).
venv_pid=""
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import numpy, h5py, matplotlib, pandas' 2>/dev/null; then
  echo "setup: creating .venv with numpy, h5py, matplotlib, pandas" >&2
  ( python3 -m venv .venv && .venv/bin/pip install -q --disable-pip-version-check numpy h5py matplotlib pandas ) &
  venv_pid=$!
fi

if ! log="$(scripts/build-library.sh 2>&1)"; then
  echo "$log" >&2
  echo "setup: building librbp failed (scripts/build-library.sh)" >&2
  exit 1
fi
if [ -n "$venv_pid" ] && ! wait "$venv_pid"; then
  echo "setup: creating .venv failed (python3 -m venv, pip install numpy h5py matplotlib pandas)" >&2
  exit 1
fi
if ! .venv/bin/python -c 'import rbp' 2>/dev/null; then
  echo "setup: installing the rbp Python package (python/) into .venv, editable" >&2
  .venv/bin/pip install -q --disable-pip-version-check --no-build-isolation -e python 2>/dev/null \
    || .venv/bin/pip install -q --disable-pip-version-check -e python
fi
