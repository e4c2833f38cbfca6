"""CPU time and memory of processes, read from /proc.

Every figure in the benchmark table carries the CPU its processes used, so
that a proxy limited by its own CPU can be told from one starved by the load
generator or by something else running on the machine.
"""

import os
from dataclasses import dataclass

# Jiffies per second, the unit of the times in /proc/<pid>/stat and /proc/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Columns of the `cpu` line in /proc/stat that count as busy. The kernel
# charges softirq and irq ticks to the task they interrupted as well, so they
# belong to the busy side when comparing with the tasks' own times.
BUSY_COLUMNS = ("user", "nice", "system", "irq", "softirq", "steal")
STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _read(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name, or []."""
    text = _read(f"/proc/{pid}/stat")
    # The command name is in parentheses and may itself contain spaces.
    return text[text.rfind(")") + 2 :].split() if text else []


def process_tree(pid):
    """pid and all of its descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds split into user time (the program's own code and its
    libraries) and system time (the kernel working for it: sockets, TCP,
    epoll), which a proxy cannot shrink by optimising its own code."""

    user: float = 0.0
    system: float = 0.0

    @property
    def total(self):
        return self.user + self.system

    def __sub__(self, other):
        return CpuTimes(self.user - other.user, self.system - other.system)

    def scaled(self, factor):
        return CpuTimes(self.user * factor, self.system * factor)


def cpu_times(pids):
    """User and system CPU time of the processes (all their threads)."""
    user = system = 0
    for pid in pids:
        fields = _stat_fields(pid)
        # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
        if len(fields) > 12:
            user += int(fields[11])
            system += int(fields[12])
    return CpuTimes(user / CLOCK_TICKS, system / CLOCK_TICKS)


def cpu_seconds(pids):
    """User plus system CPU time of the processes (all their threads)."""
    return cpu_times(pids).total


def _status_kib(pid, key):
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_bytes(pids):
    """Resident set size summed over the processes (VmRSS).

    Pages shared between a master and its workers (nginx) are counted once per
    process, as `ps` would; see bench/README.md.
    """
    return sum(_status_kib(pid, "VmRSS") for pid in pids) * 1024


def peak_rss_bytes(pids):
    """Highest resident set size each process reached, summed (VmHWM)."""
    return sum(_status_kib(pid, "VmHWM") for pid in pids) * 1024


def machine_busy_seconds():
    """CPU time the whole machine spent busy since boot, over all CPUs."""
    first = _read("/proc/stat").splitlines()[0].split()
    values = dict(zip(STAT_COLUMNS, (int(v) for v in first[1:])))
    return sum(values.get(column, 0) for column in BUSY_COLUMNS) / CLOCK_TICKS


@dataclass
class CpuSnapshot:
    """CPU times at one instant: per named group of processes, the machine
    and this harness."""

    groups: dict  # {name: CpuTimes}
    machine: float
    harness: float


def snapshot(groups):
    """Reads the CPU time of each group ({name: [pid, ...]}) now."""
    times = os.times()
    return CpuSnapshot(
        groups={name: cpu_times(pids) for name, pids in groups.items()},
        machine=machine_busy_seconds(),
        harness=times.user + times.system,
    )


def cpu_split(before, after):
    """CpuTimes each group used between two snapshots."""
    return {name: after.groups[name] - before.groups[name] for name in before.groups}


def cpu_used(before, after):
    """CPU seconds (user plus system) each group used between two snapshots."""
    return {name: times.total for name, times in cpu_split(before, after).items()}
