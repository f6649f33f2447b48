"""Which session a line belongs to: the match of --session-key, else a window of its source.

Client-safe (no heavy imports): the watch command uses it to check the regex before starting.
"""

import re

WINDOW_LINES = 50          # lines of one source per session when no key matches
MAX_KEY_CHARS = 1000


def compile_key(pattern: str) -> re.Pattern | None:
    """The session-key regex, or None for per-source windows; ValueError with a clear reason."""
    if not pattern:
        return None
    if len(pattern) > MAX_KEY_CHARS:
        raise ValueError(f"--session-key is {len(pattern)} characters long; keep it under {MAX_KEY_CHARS}")
    try:
        key = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"--session-key {pattern!r} is not a valid regular expression: {err}") from None
    if key.match(""):
        raise ValueError(f"--session-key {pattern!r} matches the empty string, so it cannot tell "
                         r"sessions apart; give the id's shape, e.g. 'blk_-?\d+' or 'req-[0-9a-f]+'")
    return key


class Sessionizer:
    """Assigns session ids; with a key, lines without a match fall back to source windows."""

    def __init__(self, key: re.Pattern | None):
        self.key = key
        self._unkeyed: dict[str, int] = {}

    def session_of(self, source: str, line: str) -> str:
        if self.key is not None:
            m = self.key.search(line)
            if m:
                return m.group(1) if self.key.groups else m.group(0)
        n = self._unkeyed.get(source, 0)
        self._unkeyed[source] = n + 1
        return f"{source}#{n // WINDOW_LINES + 1}"
