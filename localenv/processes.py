"""Starting, watching and stopping the local server processes (each in its own process group)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import requests


class ServerError(RuntimeError):
    """A server did not start or answer; the message names it and points at its log."""


def start(name: str, argv: Sequence[str], log_dir: Path, env: Optional[Mapping[str, str]] = None,
          cwd: Optional[Path] = None) -> int:
    """Launch a server detached from this process (it outlives `localenv up`); returns its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")
    process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    return process.pid


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` whole: a daemon reading it while it is written sees the old content or the new, never a
    truncated file (a state file read as empty once killed the Prometheus target writer on a cold machine)."""
    staged = path.with_suffix(".tmp")
    staged.write_text(text)
    staged.chmod(mode)
    staged.replace(path)


def alive(pid: int) -> bool:
    """Running, not a zombie (whoever the parent is: servers outlive the process that started them)."""
    stat = _stat_fields(Path(f"/proc/{pid}"))
    return stat is not None and stat[0] != "Z"


def _stat_fields(proc_dir: Path) -> Optional[list[str]]:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def stop(pid: int, timeout: float = 30) -> None:
    """SIGTERM the whole process group (kc.sh forks java), SIGKILL what is left after the timeout."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return
            time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    """Any live member of the process group (kc.sh's java child outlives a killed kc.sh)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry)
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def listening() -> set[tuple[str, int]]:
    """Every (IPv4 address, port) a socket of this host listens on, from /proc/net/tcp (a connect would not do:
    this machine's gateway accepts connections to any address nothing local serves)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # TCP_LISTEN
            address, port = fields[1].split(":")
            found.add((socket.inet_ntoa(bytes.fromhex(address)[::-1]), int(port, 16)))
    return found


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(name: str, check: Callable[[], bool], pid: int, timeout: float, log: Path) -> float:
    """Poll ``check`` until it passes; fail early, with the log's tail, if the process died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        if not _group_alive(pid):
            raise ServerError(f"{name} exited during start-up; last log lines:\n{tail(log)}")
        time.sleep(0.5)
    raise ServerError(f"{name} not ready after {timeout:.0f}s; last log lines:\n{tail(log)}")


def http_ok(url: str, expect: tuple[int, ...] = (200,)) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).status_code in expect
        except requests.RequestException:
            return False
    return check


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
