"""`tail -F` for the watch command: follow a file by name through rotation, truncation and
deletion, and wait for a file that does not exist yet. Polling (every call to read()) keeps it
portable and simple; the caller polls every 50 ms.
"""

import os
import sys
import threading

READ_BYTES = 1 << 20
MAX_LINE_BYTES = 64 * 1024     # a longer line is cut (its rest is dropped up to the newline)


class Follower:
    def __init__(self, path: str, from_start: bool = False):
        self.name = path
        self.path = path
        self.finished = False          # a followed file never finishes by itself
        self._file = None
        self._inode = None
        self._partial = b""
        self._skipping = False         # inside the dropped tail of an overlong line
        self._line = 0                 # lines delivered so far
        self._notices: list[str] = []
        self._waiting_said = False
        self._open(at_end=not from_start)

    def notices(self) -> list[str]:
        taken, self._notices = self._notices, []
        return taken

    def _open(self, at_end: bool) -> None:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            if not self._waiting_said:
                self._notices.append(f"{self.path}: no such file yet; waiting for it to appear")
                self._waiting_said = True
            return
        except (IsADirectoryError, PermissionError) as err:
            self._notices.append(f"{self.path}: cannot read it ({err.strerror}); waiting")
            self._waiting_said = True
            return
        if at_end:
            f.seek(0, os.SEEK_END)
        self._file, self._inode = f, os.fstat(f.fileno()).st_ino
        if self._waiting_said:
            self._notices.append(f"{self.path}: appeared; following it")
            self._waiting_said = False

    def read(self) -> list[tuple[int, bytes]]:
        """New whole lines as (number of the first, bytes); handles rotation and truncation."""
        if self._file is None:
            self._open(at_end=False)
            if self._file is None:
                return []
        chunks = self._drain()
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != self._inode:
            chunks += self._drain()  # the old file's last lines, written before the rotation
            self._file.close()
            self._file = None
            self._notices.append(f"{self.path}: " + ("deleted; waiting for it to come back" if current is None
                                                      else "rotated; following the new file"))
            self._waiting_said = current is None
            if current is not None:
                self._open(at_end=False)
                chunks += self._drain()
        elif current.st_size < self._file.tell():
            self._notices.append(f"{self.path}: truncated; reading from its start")
            self._file.seek(0)
            self._partial = b""
            chunks += self._drain()
        return chunks

    def _drain(self) -> list[tuple[int, bytes]]:
        if self._file is None:
            return []
        out = []
        while True:
            data = self._file.read(READ_BYTES)
            if not data:
                return out
            lines = self._split(data)
            if lines:
                out.append((self._line + 1, b"".join(lines)))
                self._line += len(lines)

    def _split(self, data: bytes) -> list[bytes]:
        """Whole lines of partial + data, each cut to MAX_LINE_BYTES; the rest waits."""
        lines = []
        buffer = self._partial + data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if not self._skipping:
                lines.append(buffer[start:end][:MAX_LINE_BYTES - 1] + b"\n")
            self._skipping = False
            start = end + 1
        rest = buffer[start:]
        if len(rest) >= MAX_LINE_BYTES and not self._skipping:
            lines.append(rest[:MAX_LINE_BYTES - 1] + b"\n")  # deliver the head now, drop the rest
            self._skipping, rest = True, b""
        elif self._skipping:
            rest = b""
        self._partial = rest
        return lines


class StdinReader:
    """Lines from stdin, read on a thread so the poll loop never blocks; finished at EOF. The
    thread waits while MAX_BUFFERED bytes are unread, so a fast producer cannot fill memory."""

    MAX_BUFFERED = 4 * READ_BYTES

    def __init__(self):
        self.name = "-"
        self.finished = False
        self._lines: list[bytes] = []
        self._buffered = 0
        self._room = threading.Condition()
        self._line = 0
        self._eof = False
        threading.Thread(target=self._pump, name="stdin", daemon=True).start()

    def _pump(self) -> None:
        for line in sys.stdin.buffer:
            line = line if line.endswith(b"\n") else line + b"\n"
            if len(line) > MAX_LINE_BYTES:
                line = line[:MAX_LINE_BYTES - 1] + b"\n"
            with self._room:
                while self._buffered >= self.MAX_BUFFERED:
                    self._room.wait()
                self._lines.append(line)
                self._buffered += len(line)
        self._eof = True

    def notices(self) -> list[str]:
        if self._eof and not self.finished and not self._lines:
            self.finished = True
            return ["stdin closed"]
        return []

    def read(self) -> list[tuple[int, bytes]]:
        """The buffered lines, in chunks of about READ_BYTES."""
        with self._room:
            lines, self._lines, self._buffered = self._lines, [], 0
            self._room.notify()
        chunks, start = [], 0
        while start < len(lines):
            end, size = start, 0
            while end < len(lines) and (size < READ_BYTES or end == start):
                size += len(lines[end])
                end += 1
            chunks.append((self._line + 1, b"".join(lines[start:end])))
            self._line += end - start
            start = end
        return chunks
