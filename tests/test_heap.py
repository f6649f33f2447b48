"""release_free_memory() must really reach glibc's malloc_trim: a wrong library name would make
it a silent no-op and the daemon would keep what a full index freed."""

import ctypes
import platform
import threading
from pathlib import Path

import pytest

from ltlsp.server.heap import release_free_memory

BLOCKS = 200_000  # 1 KiB each: ~200 MB in one worker thread's arena


def rss_mb() -> float:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_blocks_of_a_worker_thread_go_back_to_the_system():
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def allocate_and_free_all_but_the_last():
        blocks = [libc.malloc(1024) for _ in range(BLOCKS)]
        for block in blocks:
            ctypes.memset(block, 1, 1024)  # touch the pages so they count in RSS
        for block in blocks[:-1]:  # the last one pins the top of the heap
            libc.free(block)

    worker = threading.Thread(target=allocate_and_free_all_but_the_last)
    worker.start()
    worker.join()
    before = rss_mb()
    release_free_memory()
    assert before - rss_mb() > 100
