"""Unit tests of bench/cost.py's per-mapping RSS reader, on this process's
own /proc/self/smaps (no servers needed):
    python3 -m unittest discover bench
"""

import os
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cost  # noqa: E402
import procstat  # noqa: E402


class SmapsByFileTest(unittest.TestCase):
    def test_names_the_interpreter_and_libc_and_sums_to_vmrss(self):
        rows = cost.smaps_by_file(os.getpid())
        names = set(rows)
        self.assertTrue(any(name.startswith("libc.so") for name in names), names)
        self.assertIn(os.path.basename(os.path.realpath(sys.executable)), names)
        self.assertIn("[heap]", names)
        # Every resident page is in exactly one mapping: the per-file sums add
        # up to VmRSS (read right after; allow for pages touched in between).
        total = sum(rss for rss, _ in rows.values())
        vmrss = procstat.rss_bytes([os.getpid()]) / 1024
        self.assertLess(abs(total - vmrss), 0.05 * vmrss)

    def test_anonymous_pages_are_counted_apart(self):
        rows = cost.smaps_by_file(os.getpid())
        heap_rss, heap_anonymous = rows["[heap]"]
        self.assertGreater(heap_rss, 0)
        self.assertEqual(heap_rss, heap_anonymous)  # the heap is all anonymous
        libc = next(v for name, v in rows.items() if name.startswith("libc.so"))
        self.assertLess(libc[1], libc[0])  # libc is mostly file pages


if __name__ == "__main__":
    unittest.main()
