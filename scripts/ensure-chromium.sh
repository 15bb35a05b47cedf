#!/bin/sh
# Debian's Chromium for the console's browser tests (test/e2e/console.test.ts drives it with
# playwright-core, which never downloads a browser). Installs the `chromium` package when it is
# missing; fails loudly when it cannot (the tests must not skip silently).
set -eu
BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$BIN" ]; then exit 0; fi
echo "ensure-chromium: $BIN is missing; installing Debian's chromium package" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure-chromium: not root and no sudo: install it with 'apt-get install -y chromium'" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends chromium >&2; then
  $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends chromium >&2
fi
if [ ! -x "$BIN" ]; then
  echo "ensure-chromium: chromium is still missing at $BIN after apt-get install" >&2
  exit 1
fi
