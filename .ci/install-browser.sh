#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for tests/test_html_report.py, which drives it
# through the DevTools protocol over a pipe (--remote-debugging-pipe): no chromium-driver,
# no Selenium, no websocket package. Idempotent; runs as root on Debian 12 (CI=true, no stdin).
#   bash .ci/install-browser.sh
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT=(apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
    $SUDO "${APT[@]}" update -qq
    # fonts-dejavu-core: a font with the report's symbols (arrows, en dash) on a minimal image
    $SUDO "${APT[@]}" install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    echo "install-browser: installed chromium"
fi
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
