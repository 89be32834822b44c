#!/usr/bin/env bash
# Install the real MTAs used by tests/test_follow_real_postfix.py (later: exim).
# Idempotent; runs as root on Debian 12 (CI=true, no stdin).  Usage:
#   bash .ci/install-mta.sh
#
# The system-wide MTA instance is never left running: the test harness
# (tests/realmta/) starts its own private Postfix instances (own config/queue/
# data directories, high 127.0.0.1 ports) and its own rsyslogd per instance.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT=(apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        $SUDO "${APT[@]}" update -qq
        APT_UPDATED=1
    fi
}

# Keep maintainer scripts from starting daemons (postfix would take port 25).
# Only removed again if this script created it (Docker images ship their own).
POLICY=/usr/sbin/policy-rc.d
POLICY_CREATED=0
block_service_start() {
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        POLICY_CREATED=1
    fi
}
cleanup() {
    if [ "$POLICY_CREATED" -eq 1 ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {  # apt_install PKG... (only the missing ones)
    local missing=()
    for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_update_once
        block_service_start
        $SUDO "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        echo "install-mta: installed ${missing[*]}"
    fi
}

# ---------------------------------------------------------------- postfix ---
install_postfix() {
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    echo "postfix postfix/mailname string localhost.localdomain" | $SUDO debconf-set-selections
    # rsyslog: per-instance syslog daemons writing RFC 3164 + RFC 3339 files.
    # util-linux provides unshare/nsenter (private /dev/log per instance).
    apt_install postfix rsyslog util-linux
    echo "install-mta: postfix $(/usr/sbin/postconf -dh mail_version 2>/dev/null || echo '?')"
    # Never leave the system instance running (it would hold port 25).
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now postfix >/dev/null 2>&1 || true
    fi
    if [ -f /etc/postfix/main.cf ] && [ -f /var/spool/postfix/pid/master.pid ]; then
        $SUDO /usr/sbin/postfix stop >/dev/null 2>&1 || true
    fi
}

# ------------------------------------------------------------------ exim ----
# Placeholder.  Debian's exim4 packages conflict with postfix, so exim must not
# be apt-get installed next to it.  A later section can unpack it instead:
#   apt_update_once
#   tmp=$(mktemp -d); (cd "$tmp" && apt-get download exim4-daemon-light exim4-base exim4-config)
#   for d in "$tmp"/*.deb; do dpkg -x "$d" /opt/exim; done
install_exim() {
    :
}

install_postfix
install_exim
echo "install-mta: done"

# ---- report cross-checks and benchmarks: pflogsumm (Postfix), GNU time (peak RSS)
apt_install pflogsumm time
