"""Split a file's text into chunks: overlapping line windows for now.

Windows are short enough that a typical function fills most of one, and overlap so that every
function of at least half a stride has a window that is mostly inside it.
"""

import hashlib
from dataclasses import dataclass

WINDOW_LINES = 20
STRIDE_LINES = 10
MAX_CHUNK_CHARS = 4000  # a pathological line (minified code) must not produce a huge chunk


@dataclass(frozen=True)
class Chunk:
    start_line: int  # 1-based
    end_line: int    # inclusive
    symbol: str      # what to show: symbol name, or the first non-blank line
    kind: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.blake2b(self.text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def line_windows(text: str, window: int = WINDOW_LINES, stride: int = STRIDE_LINES) -> list[Chunk]:
    """Overlapping windows over `text`; blank-only windows dropped, the tail always covered."""
    lines = text.splitlines()
    chunks = []
    start = 0
    while start < len(lines):
        end = min(start + window, len(lines))
        body = "\n".join(lines[start:end])[:MAX_CHUNK_CHARS]
        if body.strip():
            chunks.append(Chunk(start + 1, end, first_line(body), "window", body))
        if end == len(lines):
            break
        start += stride
    return chunks


def chunk_at(chunks: list[Chunk], line: int) -> Chunk | None:
    """The chunk whose window is best centred on `line` (1-based), if any contains it."""
    containing = [c for c in chunks if c.start_line <= line <= c.end_line]
    if not containing:
        return None
    return min(containing, key=lambda c: abs((c.start_line + c.end_line) / 2 - line))
