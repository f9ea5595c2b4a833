#!/usr/bin/env bash
# Installs what the console's browser tests need, when it is missing: Debian's headless Chromium and its
# ChromeDriver (the same version, from the same archive; needs root or sudo for apt), and axe-core.
set -euo pipefail
cd "$(dirname "$0")/../.."
# axe-core, the accessibility checker the tests run in each page, pinned by tests/browser/package-lock.json.
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  echo "browser: installing axe-core (npm ci)"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi
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
