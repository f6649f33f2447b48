"""Chunks and the line windows used where no grammar applies (see syntax.py for the rest).

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
    text: str           # the lines start_line..end_line, shown and searched
    context: str = ""   # embedded before the text: a split unit's signature

    @property
    def embedding_text(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text

    @property
    def hash(self) -> str:
        """Content hash of what is embedded: equal hashes can share a vector."""
        return hashlib.blake2b(self.embedding_text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def own_name(symbol: str) -> str:
    """A symbol's last part (`Message.set_param` -> `set_param`): what tells the chunks of one
    file apart. Embedded once per distinct name, however many classes define it."""
    return symbol.rsplit(".", 1)[-1].strip()


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
