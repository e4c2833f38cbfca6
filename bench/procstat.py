"""CPU time and memory of processes, read from /proc (and taskstats).

Every figure in the benchmark table carries the CPU its processes used, so
that a proxy limited by its own CPU can be told from one starved by the load
generator or by something else running on the machine.

User and system time of one run: the kernel samples them at each clock tick
and /proc/<pid>/stat reports them scaled so that they add up to the exact
run time, but with the ratio of the process's whole life (cputime_adjust in
kernel/sched/cputime.c) and never decreasing. The difference of two readings
is therefore skewed towards what the process did before: a proxy that spent
earlier figures mostly in the kernel shows a handshake run with almost no
system time. The taskstats netlink interface gives the raw tick samples;
their ratio within the run, applied to the exact total from /proc, is the
run's own split. Without taskstats (it needs CAP_NET_ADMIN) the /proc
difference is used as it is, and the report says so.
"""

import errno
import os
import socket
import struct
from dataclasses import dataclass, field

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


# ---- taskstats: the raw tick samples ---------------------------------------

# From <linux/netlink.h>, <linux/genetlink.h> and <linux/taskstats.h>.
NETLINK_GENERIC = 16
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_ATTR_TGID = 2
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_TGID = 5
# offsetof(struct taskstats, ac_utime); ac_stime follows. Both in µs.
AC_UTIME_OFFSET = 152


def _nl_attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("HH", length, kind) + payload + b"\0" * (-length % 4)


def _nl_attrs(data):
    """{type: payload} of a run of netlink attributes."""
    attrs = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from("HH", data)
        if length < 4:
            break
        attrs[kind & 0x3FFF] = data[4:length]  # without the nested/byte-order flags
        data = data[length + (-length % 4) :]
    return attrs


class Taskstats:
    """A generic netlink socket to the kernel's TASKSTATS family."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0
        name = _nl_attr(CTRL_ATTR_FAMILY_NAME, b"TASKSTATS\0")
        reply = self._request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, name)
        self.family = struct.unpack_from("H", reply[CTRL_ATTR_FAMILY_ID])[0]

    def _request(self, family, command, payload):
        self.seq += 1
        body = struct.pack("BBH", command, 1, 0) + payload
        header = struct.pack("IHHII", 16 + len(body), family, NLM_F_REQUEST, self.seq, 0)
        self.sock.send(header + body)
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("IH", data)
        if kind == NLMSG_ERROR:
            error = -struct.unpack_from("i", data, 16)[0]
            raise OSError(error, os.strerror(error))
        return _nl_attrs(data[20:length])  # after nlmsghdr and genlmsghdr

    def sampled(self, pid):
        """Tick-sampled (user, system) seconds of all threads of pid."""
        query = _nl_attr(TASKSTATS_CMD_ATTR_TGID, struct.pack("I", pid))
        reply = self._request(self.family, TASKSTATS_CMD_GET, query)
        stats = _nl_attrs(reply[TASKSTATS_TYPE_AGGR_TGID])[TASKSTATS_TYPE_STATS]
        user, system = struct.unpack_from("QQ", stats, AC_UTIME_OFFSET)
        return CpuTimes(user / 1e6, system / 1e6)


_taskstats = None
# Why taskstats cannot be used here, once it failed ("" while it works).
taskstats_problem = ""


def sampled_times(pids):
    """The processes' raw tick-sampled CpuTimes, or None without taskstats."""
    global _taskstats, taskstats_problem
    if taskstats_problem:
        return None
    try:
        _taskstats = _taskstats or Taskstats()
    except (OSError, KeyError, struct.error) as error:
        taskstats_problem = str(error) or type(error).__name__
        return None
    user = system = 0.0
    for pid in pids:
        try:
            times = _taskstats.sampled(pid)
        except OSError as error:
            if error.errno in (errno.EPERM, errno.EACCES):
                taskstats_problem = f"{error.strerror} (needs CAP_NET_ADMIN)"
                return None
            continue  # the process exited meanwhile
        except (KeyError, struct.error) as error:
            taskstats_problem = f"unexpected reply: {error!r}"
            return None
        user, system = user + times.user, system + times.system
    return CpuTimes(user, system)


def split_note():
    """How the user / system split of a run is taken, for the report."""
    if taskstats_problem:
        return (
            "as /proc/<pid>/stat reports it, skewed towards each process's earlier work "
            f"(taskstats unavailable: {taskstats_problem})"
        )
    return "in the ratio of the clock-tick samples taken during the run (taskstats)"


def interval_split(total, sampled):
    """The run's own split: its exact total (from /proc) in the ratio of the
    ticks sampled during it. Without samples, None."""
    # A process that exited between the readings can leave a negative part.
    if not sampled or sampled.user < 0 or sampled.system < 0 or sampled.total <= 0:
        return None
    ticks = sampled.total
    user = total * sampled.user / ticks
    return CpuTimes(user, total - user)


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

    groups: dict  # {name: CpuTimes}, from /proc
    machine: float
    harness: float
    sampled: dict = field(default_factory=dict)  # {name: raw CpuTimes or None}


def snapshot(groups):
    """Reads the CPU time of each group ({name: [pid, ...]}) now."""
    times = os.times()
    return CpuSnapshot(
        groups={name: cpu_times(pids) for name, pids in groups.items()},
        machine=machine_busy_seconds(),
        harness=times.user + times.system,
        sampled={name: sampled_times(pids) for name, pids in groups.items()},
    )


def cpu_split(before, after):
    """CpuTimes each group used between two snapshots: the /proc total, split
    as the tick samples taken between them (see the top of this file), or as
    /proc says when there are none."""
    split = {}
    for name in before.groups:
        used = after.groups[name] - before.groups[name]
        first, last = before.sampled.get(name), after.sampled.get(name)
        ticks = last - first if first and last else None
        split[name] = interval_split(used.total, ticks) or used
    return split


def cpu_used(before, after):
    """CPU seconds (user plus system) each group used between two snapshots."""
    return {name: times.total for name, times in cpu_split(before, after).items()}
