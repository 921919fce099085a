"""How much memory processes hold, as Linux's /proc tells: a process group's resident size, and the
highest resident size this process has had. Elsewhere every figure is 0 (unknown)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Process(NamedTuple):
    """One process as /proc/PID/stat tells: its parent, process group, resident bytes and state."""

    parent: int
    group: int
    resident: int
    state: str


def processes() -> dict[int, Process]:
    """Every process of this machine, by pid (none where /proc cannot be read)."""
    found: dict[int, Process] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as file:
                    fields = file.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):  # the process ended meanwhile
                continue
            # The fields after the command: state, parent, group, ..., the resident pages 24th of the line.
            resident = int(fields[21]) * _PAGE
            found[int(entry.name)] = Process(int(fields[1]), int(fields[2]), resident, fields[0].decode())
    return found


def group_bytes(group: int) -> int:
    """The resident size of every process in the process group ``group``."""
    return sum(process.resident for process in processes().values() if process.group == group)


def peak_bytes() -> int:
    """The highest resident size this process has had."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
