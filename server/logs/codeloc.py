"""Log -> code: where in a repository an alert's message was most likely logged.

Lexical first: the template's constant text (the parts between <*>) is searched for as a fixed
string with `git grep` in the repository's tracked files; a line that holds it inside a string
literal wins. Then semantic: when no line has the text (a message built from pieces, or reworded
since), the repository's index is asked for the code closest to the template, if the repository
is indexed. Results are cached per (repository, template), so only the first alert pays.
"""

import re
import subprocess
from pathlib import Path
from typing import Callable

from ltlsp.server.logs.templates import WILDCARD

MIN_FRAGMENT = 8            # shorter constant text matches too much to mean anything
MAX_FRAGMENTS = 3           # the longest ones are tried, in order
NAME_WITH_DIGIT = re.compile(r"\S*\d\S*")   # mask() keeps `eth0`, `sdb7` as names; a program may have printed them
GREP_TIMEOUT_S = 2.0
COMPONENT = re.compile(r"^[\w.$]+:\s")   # `dfs.DataNode$DataXceiver: ` is the logger, not the message


def fragments(template: str) -> list[str]:
    """The longest constant pieces of a template, e.g. 'Deleting block <*> file <*>' -> ['Deleting block'];
    then those of the template with its names holding a digit taken as variables too."""
    message = COMPONENT.sub("", template)
    found = _longest_pieces(message.split(WILDCARD))
    more = _longest_pieces(NAME_WITH_DIGIT.sub(WILDCARD, message).split(WILDCARD))
    return found + [p for p in more if p not in found]


def _longest_pieces(pieces: list[str]) -> list[str]:
    stripped = {p.strip(" :=,;[]()'\"") for p in pieces}
    return sorted((p for p in stripped if len(p) >= MIN_FRAGMENT), key=len, reverse=True)[:MAX_FRAGMENTS]


class CodeLocator:
    def __init__(self, semantic: Callable[[Path, str], str] | None = None):
        self.semantic = semantic            # (repo, text) -> "path:start-end (similar code)" or ""
        self._cache: dict[tuple[str, str], str] = {}

    def locate(self, repo: str, template: str) -> str:
        """'path:line' of the likely logging statement, or '' when nothing fits."""
        if not repo or not template:
            return ""
        key = (repo, template)
        if key not in self._cache:
            found = self._search(Path(repo), template)
            if not found and self.semantic and fragments(template):
                found = self.semantic(Path(repo), COMPONENT.sub("", template).replace(WILDCARD, " "))
            self._cache[key] = found
        return self._cache[key]

    @staticmethod
    def _search(repo: Path, template: str) -> str:
        for fragment in fragments(template):
            try:
                done = subprocess.run(["git", "-C", str(repo), "grep", "-n", "-I", "-F", "--no-color", "-e", fragment],
                                      capture_output=True, text=True, errors="replace", timeout=GREP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                return ""
            hits = [line.split(":", 2) for line in done.stdout.splitlines() if line.count(":") >= 2]
            in_literal = [h for h in hits if _quoted(h[2], fragment)]
            best = (in_literal or hits)[:1]
            if best:
                return f"{best[0][0]}:{best[0][1]}"
        return ""


def _quoted(code: str, fragment: str) -> bool:
    before = code[:code.find(fragment)]
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1
