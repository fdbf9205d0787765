"""What this process may use of the machine: its CPUs and the memory it can still allocate.

The one place these are measured, so that every bound tied to them (``--threads``,
``--workers``, memory checks before allocating, the ``.npz`` reader's inflation limits) reads
the same figures. This module sits below everything else and imports nothing from cnncompile
but its errors.
"""

from __future__ import annotations

import os

from .errors import OptionError


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int | None, option: str = "--threads") -> int | None:
    """``threads`` when it is None (the runtime's default) or in 1 .. :func:`usable_cpus`.

    More threads than CPUs only wait for each other, and thousands of them take seconds to
    start and stop (and keep a command from answering Ctrl-C).

    Raises:
        OptionError: ```--threads` must be in [1, 2] (the CPUs this process may use).
            Received: 10000``.
    """
    if threads is None:
        return None
    cpus = usable_cpus()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= cpus:
        raise OptionError(f"`{option}` must be in [1, {cpus}] (the CPUs this process may use). "
                          f"Received: {threads!r}")
    return threads


def size_text(n: int) -> str:
    """Bytes in the largest binary unit that keeps a digit before the point.

    >>> size_text(512), size_text(3 << 30)
    ('512 bytes', '3.0 GiB')
    """
    for unit, name in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit:
            return f"{n / unit:.1f} {name}"
    return f"{n} bytes"


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None where the system does not say.

    Linux's MemAvailable (free memory plus the cache it can drop), else the free pages
    ``sysconf`` reports; either lowered to the room left under a cgroup memory limit and under
    the address-space limit (``ulimit -v``, RLIMIT_AS) less what the process has mapped.
    """
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            avail = None
    for room in (_cgroup_room(), _address_space_room()):
        if room is not None:
            avail = room if avail is None else min(avail, room)
    return avail


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):  # absent, or "max" (no limit)
        return None


def _cgroup_room() -> int | None:
    """Limit minus usage of this container's memory cgroup (v2, else v1), None without one."""
    for limit_file, usage_file in (
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
             "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1: "no limit" is huge
            return max(0, limit - usage)
    return None


def _address_space_room() -> int | None:
    """RLIMIT_AS minus this process's virtual size, None without a limit or where unknown."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError, IndexError):
        return None
    return max(0, limit - mapped)
