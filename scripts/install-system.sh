#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite drives for real:
# sipp (SIP peer), espeak-ng and sox (speech for tests), chromium (panel tests)
# a CJK font (so Chinese renders in screenshots), and the engines a cluster runs on
# (Kamailio, Redis, PostgreSQL), which the scale-out tests start on loopback.
# Safe to run again.
set -euo pipefail
pkgs=(sip-tester espeak-ng sox chromium fonts-wqy-zenhei kamailio redis-server postgresql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system packages: ${missing[*]}; this machine has no apt-get," \
       "install them with your package manager and run again" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: missing system packages: ${missing[*]}; run as root or install them:" \
         "apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "error: apt-get could not install: ${missing[*]}; install them by hand and run again" >&2
  exit 1
fi
