#!/usr/bin/env bash
# Creates the project's virtualenv; on Debian/Ubuntu installs python3-venv first if missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed ($python is older or missing); set PYTHON=python3.11" >&2
  exit 1
fi
if "$python" -m venv "$venv" 2>/dev/null; then
  exit 0
fi
rm -rf "$venv"
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  echo "installing python${ver}-venv (needed for the virtualenv)"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "python${ver}-venv" >/dev/null \
    || $sudo apt-get install -y -qq python3-venv >/dev/null || true
  "$python" -m venv "$venv" && exit 0
fi
echo "error: could not create a virtualenv; install your system's python3-venv package" >&2
exit 1
