"""Peak memory of a bench: this process plus its children (background reader, classification workers)."""
import os
import resource
import threading
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak RSS of this process + the largest child (the reader), in MB: an upper bound of the footprint."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def _rollup(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of one process in kB, from /proc/PID/smaps_rollup; (0, 0) when it has gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemory:
    """Samples the memory of this process and all its descendants every ``interval`` s (Linux /proc).

    ``peak_rss_mb`` sums each process's RSS (pages shared after fork counted in every process: an upper
    bound); ``peak_pss_mb`` sums the proportional set sizes (shared pages split among their users: what
    the process tree really occupies).  ``reset()`` starts a new measurement window.
    """

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_rss_kb, self.peak_pss_kb = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.peak_rss_kb = self.peak_pss_kb = 0

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            rss = pss = 0
            for pid in _tree(me):
                r, p = _rollup(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)
            self._stop.wait(self.interval)

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_kb / 1024
