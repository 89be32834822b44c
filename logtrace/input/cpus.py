"""How many CPUs logtrace may use: the parsing threads (:func:`logtrace.parsing.scan.parse_threads`)
and the parallel byte search (:mod:`logtrace.input.grep`) size themselves from it."""

from __future__ import annotations

import os


def usable_cpus(root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup") -> int:
    """CPUs this process may run on: its affinity mask, lowered to its cgroup's CPU quota.

    A container started with ``--cpus=2`` on a 64-CPU host, or a systemd unit with
    ``CPUQuota=200%``, sees all 64 CPUs in its mask; threads beyond the quota only hold blocks in
    memory while they wait for CPU time. cgroup v2: the smallest ``cpu.max`` (``"200000 100000"``;
    ``"max 100000"`` is no quota) from the process's own cgroup (``0::/path`` in
    ``/proc/self/cgroup``) up to ``root``; v1: ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (``-1``
    is no quota). Anything unreadable counts as no quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rel = ""
    try:
        with open(self_cgroup, encoding="utf-8", errors="replace") as f:
            rel = next((line[3:].strip() for line in f if line.startswith("0::")), "")
    except OSError:
        pass
    parts = [x for x in rel.split("/") if x and x != ".."]
    limits = [_quota(os.path.join(root, *parts[:i], "cpu.max")) for i in range(len(parts), -1, -1)]
    limits.append(_quota(os.path.join(root, "cpu", "cpu.cfs_quota_us"), os.path.join(root, "cpu", "cpu.cfs_period_us")))
    return max(1, min([cpus, *(n for n in limits if n)]))


def _quota(path: str, period_path: str | None = None) -> int | None:
    """CPUs allowed by one quota file (rounded up), or None when it sets none or cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.read().split()
        if period_path is not None:
            with open(period_path, encoding="ascii") as f:
                fields += f.read().split()
        quota, period = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):  # "max": no quota
        return None
    return -(-quota // period) if quota > 0 and period > 0 else None
