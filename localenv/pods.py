"""What the host sees of a pod's containers on the local node: their cgroups (memory use, peak and limit as the
kernel enforces them) and their processes (uid, pid), found from the pod's status as the kubelet reported it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")
QOS_DIRS = {"Guaranteed": "", "Burstable": "burstable", "BestEffort": "besteffort"}
UNLIMITED = 1 << 62  # cgroup v1 reports "no limit" as a page-rounded huge number


class PodNotRunning(RuntimeError):
    """The container has no running instance (yet, or any more)."""


def container_id(pod: dict, container: str) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status["name"] == container and status.get("containerID") and "running" in (status.get("state") or {}):
            return status["containerID"].split("://", 1)[1]
    raise PodNotRunning(f"{pod['metadata']['name']}: container {container} is not running")


def container_cgroup(pod: dict, container: str, controller: str = "memory") -> Path:
    """The container's cgroup in one v1 hierarchy (cgroupfs driver, cgroupRoot /)."""
    qos = QOS_DIRS[pod["status"]["qosClass"]]
    pod_dir = CGROUP_ROOT / controller / "kubepods" / qos / f"pod{pod['metadata']['uid']}"
    return pod_dir / container_id(pod, container)


@dataclass(frozen=True)
class Memory:
    """A container's memory as its cgroup accounts it, in MiB."""

    current_mib: float
    peak_mib: float
    limit_mib: Optional[float]


def container_memory(pod: dict, container: str) -> Memory:
    cgroup = container_cgroup(pod, container)

    def mib(name: str) -> float:
        return int((cgroup / name).read_text()) / 2 ** 20
    limit = int((cgroup / "memory.limit_in_bytes").read_text())
    return Memory(round(mib("memory.usage_in_bytes"), 1), round(mib("memory.max_usage_in_bytes"), 1),
                  None if limit >= UNLIMITED else round(limit / 2 ** 20, 1))


def container_cpu_seconds(pod: dict, container: str) -> float:
    """CPU time the container has used so far (user and system, all its processes), as its cgroup accounts it."""
    return int((container_cgroup(pod, container, "cpuacct") / "cpuacct.usage").read_text()) / 1e9


def container_pids(pod: dict, container: str) -> list[int]:
    """Every process of the container (its entrypoint first), from the host's view."""
    procs = (container_cgroup(pod, container, "pids") / "cgroup.procs").read_text().split()
    return sorted(int(pid) for pid in procs)


def process_uids(pid: int) -> tuple[int, int]:
    """(real uid, real gid) of a host process."""
    fields = {line.split(":", 1)[0]: line.split(":", 1)[1].split() for line in
              Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line}
    return int(fields["Uid"][0]), int(fields["Gid"][0])


def container_of(pod: dict) -> str:
    """The pod's (first) container: every workload of the program has one."""
    return pod["spec"]["containers"][0]["name"]
