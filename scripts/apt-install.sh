#!/usr/bin/env bash
# Installs Debian packages, waiting for the dpkg/apt locks instead of failing
# on them (another installer may be running on a fresh machine).
# Usage: scripts/apt-install.sh PACKAGE...   (as root)
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing: $* (install them, or run as root to let the scripts do it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# APT's own wait (up to 10 minutes per lock), and a retry loop around it for
# the window in which another process holds the lists lock.
apt_() { apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 "$@"; }
for try in 1 2 3 4 5; do
  if apt_ update -qq >&2 && apt_ install -y -qq --no-install-recommends "$@" >&2; then
    exit 0
  fi
  echo "apt-install: attempt $try failed (lock held or mirror busy); retrying in 10 s" >&2
  sleep 10
done
echo "apt-install: could not install $*" >&2
exit 1
