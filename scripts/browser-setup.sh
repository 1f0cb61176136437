#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser tests (test/console-browser.int.test.ts), which
# drive it headless with playwright-core at /usr/bin/chromium. Does nothing when it is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
