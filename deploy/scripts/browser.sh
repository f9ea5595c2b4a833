#!/usr/bin/env bash
# Installs what the console's browser tests drive, when it is missing: Debian's headless Chromium and
# its ChromeDriver (the same version, from the same archive). Needs root or sudo for apt.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
echo "browser: installing chromium and chromium-driver (Debian packages)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
