"""The markdown tables: each figure per proxy with its ratio to nginx in the
same run, the CPU each process used, and a flag on runs disturbed by load
from outside the benchmark."""

import statistics
from dataclasses import dataclass, field

# A run during which processes other than the benchmark's used more than this
# share of one core is flagged as disturbed.
FOREIGN_LOAD_LIMIT = 0.10

# Every ratio is taken against this proxy.
REFERENCE = "nginx"

MIB = 1024 * 1024
US_PER_S = 1e6


@dataclass
class Sample:
    """One measured run of one figure on one proxy."""

    target: str
    round: int
    values: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    wall: float = 0.0
    foreign: float = 0.0
    error: str = ""
    # {group: procstat.CpuTimes} for the groups read from /proc (not the
    # load generator): user and system time apart.
    cpu_split: dict = field(default_factory=dict)

    def cores(self, group):
        """Average number of cores the group used during the run."""
        return self.cpu.get(group, 0.0) / self.wall if self.wall else 0.0

    def disturbed(self):
        return self.foreign > FOREIGN_LOAD_LIMIT


@dataclass
class Row:
    """One line of the main table: a name, a unit and one value per proxy
    (None when not measured), plus which cells are flagged."""

    title: str
    values: dict
    fmt: str = "{:,.0f}"
    lower_is_better: bool = False
    flagged: set = field(default_factory=set)
    notes: dict = field(default_factory=dict)
    reference: str = REFERENCE
    # Text shown before a proxy's value, e.g. the parts that add up to it.
    prefix: dict = field(default_factory=dict)


def median_or_none(numbers):
    numbers = [n for n in numbers if n is not None]
    return statistics.median(numbers) if numbers else None


def _ratio(value, reference):
    if value is None or not reference:
        return ""
    return f" ({value / reference:.2f}×)"


def _cell(row, target):
    value = row.values.get(target)
    if target in row.notes:
        return row.notes[target]
    if value is None:
        return "—"
    text = row.prefix.get(target, "") + row.fmt.format(value)
    text += _ratio(value, row.values.get(row.reference))
    return text + (" ⚠" if target in row.flagged else "")


def table(rows, targets):
    """A markdown table with one line per row and one column per proxy."""
    lines = ["| figure | " + " | ".join(targets) + " |"]
    lines.append("|---|" + "---:|" * len(targets))
    for row in rows:
        title = row.title + (" ↓" if row.lower_is_better else "")
        lines.append(f"| {title} | " + " | ".join(_cell(row, t) for t in targets) + " |")
    return "\n".join(lines)


def _good(samples):
    return [s for s in samples if not s.error]


def figure_rows(figure, samples_by_target):
    """The rows of one load figure: the value, per proxy core, and p99."""
    main = Row(f"{figure.title}, {figure.unit}", {}, figure.fmt)
    per_core = Row(f"… per proxy core, {figure.unit}", {}, figure.fmt)
    p99 = Row("… p99 latency, ms", {}, "{:,.2f}", lower_is_better=True)
    for target, samples in samples_by_target.items():
        good = _good(samples)
        if not good:
            error = samples[0].error if samples else "not run"
            main.notes[target] = "error" if samples else "n/a"
            per_core.notes[target] = p99.notes[target] = main.notes[target]
            if samples:
                main.notes[target] += f": {error[:80]}"
            continue
        main.values[target] = median_or_none([figure.value(s) for s in good])
        per_core.values[target] = median_or_none(
            [figure.value(s) / s.cores("proxy") for s in good if s.cores("proxy") > 0]
        )
        p99.values[target] = median_or_none([s.values.get("p99_ms") for s in good])
        if any(s.disturbed() for s in samples):
            main.flagged.add(target)
            per_core.flagged.add(target)
    rows = [main, per_core]
    # Issue 6 compares HTTP/2 with h2o as well: the per-core figure again,
    # its ratio taken to that proxy.
    for other in getattr(figure, "also_versus", ()):
        if per_core.values.get(other):
            versus = Row(f"… per proxy core, ratio to {other}", dict(per_core.values), figure.fmt)
            versus.flagged, versus.notes, versus.reference = per_core.flagged, per_core.notes, other
            rows.append(versus)
    return rows + [p99] if figure.has_p99 else rows


def cpu_row(figure, samples_by_target):
    """Median share of a core used by proxy / backend / load generator."""
    row = Row(figure.title, {})
    for target, samples in samples_by_target.items():
        good = _good(samples)
        if not good:
            row.notes[target] = "—"
            continue
        shares = [
            median_or_none([s.cores(group) * 100 for s in good])
            for group in ("proxy", "backend", "client")
        ]
        row.notes[target] = " / ".join(f"{share:.0f}" for share in shares)
    return row


def cpu_per_request(sample, group="proxy"):
    """The group's CPU per request in one run, in µs (CpuTimes), or None.

    Its CPU seconds over the requests served, counted as the rate times the
    wall seconds the CPU was read over: the same numbers as the per-core
    figure, so that the total is one over the per-core rate.
    """
    times = sample.cpu_split.get(group)
    rate = sample.values.get("rps")
    if sample.error or times is None or not rate or not sample.wall:
        return None
    return times.scaled(US_PER_S / (rate * sample.wall))


def median_round_per_request(samples, group="proxy"):
    """The per-request CPU of the median round by total (the lower median
    for an even count): one real round, so that user and system add up to
    the total shown. None when no round counts."""
    splits = [cpu_per_request(s, group) for s in _good(samples)]
    splits = sorted((s for s in splits if s is not None), key=lambda s: s.total)
    return splits[(len(splits) - 1) // 2] if splits else None


def cpu_per_request_row(figure, samples_by_target):
    """The proxy's CPU per request, µs, as user + system = total, with the
    total's ratio to nginx. Loopback TCP is kernel time that every proxy
    pays alike; the split shows how much of a lead is left to win in user
    space."""
    row = Row(figure.title, {}, "{:,.1f}", lower_is_better=True)
    for target, samples in samples_by_target.items():
        split = median_round_per_request(samples)
        if split is None:
            row.notes[target] = "—"
            continue
        row.values[target] = split.total
        row.prefix[target] = f"{split.user:,.1f} + {split.system:,.1f} = "
        if any(s.disturbed() for s in samples):
            row.flagged.add(target)
    return row


def cpu_per_request_json(samples_by_target):
    """The same figures for the JSON results: {target: {user_us, system_us,
    total_us, ratio_to_nginx} or None}."""
    splits = {t: median_round_per_request(s) for t, s in samples_by_target.items()}
    reference = splits.get(REFERENCE)
    result = {}
    for target, split in splits.items():
        if split is None:
            result[target] = None
            continue
        ratio = split.total / reference.total if reference and reference.total else None
        result[target] = {
            "user_us": split.user,
            "system_us": split.system,
            "total_us": split.total,
            "ratio_to_nginx": ratio,
        }
    return result


def memory_rows(memory, targets):
    """Rows for the resident-memory figures and the binary sizes."""
    specs = [
        ("idle RSS, MiB", "idle_rss"),
        ("peak RSS under load, MiB", "peak_rss"),
    ]
    for scheme in ("https", "http"):
        specs += [
            (
                f"RSS with {{count}} idle {scheme.upper()} connections (fresh start), MiB",
                f"idle_{scheme}_rss",
            ),
            ("… above the same proxy's idle RSS, MiB", f"idle_{scheme}_delta"),
            ("… per connection, KiB", f"idle_{scheme}_per_conn"),
        ]
    specs.append(("binary size (stripped), MiB", "binary"))
    rows = []
    for title, key in specs:
        row = Row(title.format(count=f"{memory.get('idle_count', 0):,}"), {}, "{:,.1f}", True)
        for target in targets:
            value = _memory_value(memory, target, key)
            if isinstance(value, str):
                row.notes[target] = value
            elif value is not None:
                row.values[target] = value / (1024 if key.endswith("per_conn") else MIB)
        rows.append(row)
    return rows


def _memory_value(memory, target, key):
    if not key.endswith("_per_conn"):
        return memory.get(target, {}).get(key)
    delta = memory.get(target, {}).get(key.replace("_per_conn", "_delta"))
    if isinstance(delta, str) or delta is None:
        return None
    return delta / max(memory.get("idle_count", 1), 1)


def disturbed_lines(all_samples):
    """One line per figure with a disturbed run: for each proxy, the share
    of a core used outside the benchmark in each of its disturbed rounds."""
    lines = []
    for figure, samples in all_samples:
        per_target = {}
        for s in samples:
            if s.disturbed():
                per_target.setdefault(s.target, []).append(f"{s.foreign * 100:.0f}%")
        if per_target:
            parts = [f"{target} {' '.join(shares)}" for target, shares in per_target.items()]
            lines.append(f"- {figure.title}: " + "; ".join(parts))
    return lines


def error_lines(all_samples):
    """One line per failed run, with the load generator's complaint."""
    return [
        f"- {figure.title}, {s.target}, round {s.round + 1}: {s.error}"
        for figure, samples in all_samples
        for s in samples
        if s.error
    ]
