"""The zygote's memory on 2 MiB pages, so that forking a unit's process costs a third of what it did.

After torch is imported and warmed up the zygote holds about 220 MiB of private memory. `fork`
copies a page-table entry for every 4 KiB page of it, and the child's exit frees them again:
about 22 ms of kernel time per unit on the machines we measured, more than most units' own work.
`MADV_COLLAPSE` (Linux 6.1) rewrites those regions as transparent huge pages in place, once, so
that fork copies one entry per 2 MiB instead (`bench/grade_throughput.py` shows the effect).
Where the kernel cannot (older, or transparent huge pages off), nothing changes but the speed.
"""

import ctypes

MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE_PAGE = 2**21

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def private_anonymous_regions(maps_text):
    """(start, end) of each writable private anonymous region (the heap and malloc's arenas) in the text of
    /proc/self/maps, cut inwards to whole huge pages; regions smaller than one are left out."""
    regions = []
    for line in maps_text.splitlines():
        fields = line.split()
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        permissions, path = fields[1], fields[5] if len(fields) > 5 else ""
        if permissions[:2] != "rw" or permissions[3] != "p" or path not in ("", "[heap]"):
            continue
        start, end = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
        if end > start:
            regions.append((start, end))
    return regions


def collapse_into_huge_pages():
    """Ask the kernel to back this process's private memory with huge pages (a region it refuses stays as it was)."""
    with open("/proc/self/maps") as handle:
        regions = private_anonymous_regions(handle.read())
    for start, end in regions:
        _libc.madvise(start, end - start, MADV_HUGEPAGE)  # and keep new memory there on huge pages too
        _libc.madvise(start, end - start, MADV_COLLAPSE)
