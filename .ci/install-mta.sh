#!/usr/bin/env bash
# Install the real MTAs used by tests/test_follow_real_postfix.py and
# tests/test_follow_real_exim.py (Exim: unpacked into /opt/exim4, see install_exim).
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
    apt_install postfix rsyslog util-linux dovecot-lmtpd dovecot-sieve
    echo "install-mta: postfix $(/usr/sbin/postconf -dh mail_version 2>/dev/null || echo '?')"
    # Never leave the system instance running (it would hold port 25).
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now postfix >/dev/null 2>&1 || true
    fi
    # nor the system Dovecot (the lab runs its own, on a socket)
    $SUDO doveadm stop >/dev/null 2>&1 || true
    if [ -f /etc/postfix/main.cf ] && [ -f /var/spool/postfix/pid/master.pid ]; then
        $SUDO /usr/sbin/postfix stop >/dev/null 2>&1 || true
    fi
}

# ------------------------------------------------------------------ exim ----
# Debian's exim4-* packages CONFLICT with postfix (both are the system MTA), so
# Exim is never apt-get installed here.  Instead the .debs are downloaded and
# unpacked with `dpkg -x` into $EXIM_ROOT (default /opt/exim4): no dpkg
# registration, no maintainer scripts, no conflict with the installed postfix.
# What the maintainer scripts / dependencies would have provided is done by hand:
#  * the shared libraries exim4-daemon-light depends on (e.g. libidn12, missing on
#    a Postfix-only Debian 12) are apt-get installed - plain libraries, no conflict;
#  * the Debian-exim system user/group: the Debian binary has EXIM_USER compiled
#    in by name and refuses to run at all without it.
# The test harness (tests/realmta/exim.py) runs, as root,
#   $EXIM_ROOT/usr/sbin/exim4 -C <generated config> -bdf -q2s
# with its own spool, log_file_path and exim_path (root may use -C with any
# root-owned config; no entry in /etc/exim4/trusted_configs is needed) and
# listens on a high 127.0.0.1 port only.  Override the binary: LOGTRACE_EXIM=...
EXIM_ROOT="${EXIM_ROOT:-/opt/exim4}"
EXIM_PKGS=(exim4-daemon-light exim4-base exim4-config)
install_exim() {
    local bin="$EXIM_ROOT/usr/sbin/exim4" deps="$EXIM_ROOT/.logtrace-lib-depends"
    if [ ! -x "$bin" ] || [ ! -s "$deps" ]; then
        apt_update_once
        local tmp
        tmp=$(mktemp -d)
        # APT::Sandbox::User=root: the _apt user cannot write into a root-only mktemp dir
        (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download "${EXIM_PKGS[@]}")
        $SUDO mkdir -p "$EXIM_ROOT"
        for deb in "$tmp"/*.deb; do $SUDO dpkg -x "$deb" "$EXIM_ROOT"; done
        # library dependencies (lib*) of the unpacked packages, one per line
        for deb in "$tmp"/*.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' \
            | sed -e 's/[|(].*//' -e 's/^ *//' -e 's/ *$//' | grep '^lib' | sort -u \
            | $SUDO tee "$deps" >/dev/null
        rm -rf "$tmp"
        echo "install-mta: unpacked ${EXIM_PKGS[*]} into $EXIM_ROOT"
    fi
    local libs=()
    mapfile -t libs <"$deps"
    if [ "${#libs[@]}" -gt 0 ]; then apt_install "${libs[@]}"; fi
    if ! getent passwd Debian-exim >/dev/null; then
        if command -v adduser >/dev/null 2>&1; then
            $SUDO adduser --system --group --quiet --home /var/spool/exim4 --no-create-home \
                --disabled-login --force-badname Debian-exim
        else
            $SUDO useradd --system --user-group --home-dir /var/spool/exim4 --no-create-home \
                --shell /usr/sbin/nologin Debian-exim
        fi
    fi
    if ldd "$bin" | grep -q 'not found'; then
        echo "install-mta: $bin misses libraries:" >&2
        ldd "$bin" | grep 'not found' >&2
        return 1
    fi
    echo "install-mta: exim $("$bin" -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p') ($bin)"
}

# ------------------------------------------------------- content filters ---
# Debian's amavisd-new with SpamAssassin (in-process) and rspamd, for the last-mile lab
# (tests/realmta/filters.py starts private instances once per test session, on loopback ports,
# with their own configuration: SpamAssassin with `dns_available no` and the rules Debian ships
# (no sa-update), rspamd with DNS/network modules off and hyperscan disabled). The system
# services are never left running.
install_filters() {
    apt_install amavisd-new spamassassin rspamd
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now amavis rspamd spamd spamassassin-maintenance.timer >/dev/null 2>&1 || true
    fi
    echo "install-mta: amavisd-new $(dpkg-query -W -f='${Version}' amavisd-new), rspamd $(dpkg-query -W -f='${Version}' rspamd)"
}

install_postfix
install_filters
install_exim
echo "install-mta: done"

# ---- report cross-checks and benchmarks: pflogsumm (Postfix), GNU time (peak RSS)
apt_install pflogsumm time zstd
