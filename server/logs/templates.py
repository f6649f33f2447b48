"""Masking of variables and Drain-style template mining (He et al., ICWS 2017).

mask() replaces what is a variable with <*> and keeps the replaced text as parameters. It knows
the kinds of variable text that break a message into a varying number of words or hide a
variable among words (the preprocessing of the loghub benchmark, Zhu et al. ICSE-SEIP 2019):
dates written with day and month names, URLs, user@host, IPs and host:port, dotted host names,
paths, clock times and IPv6, durations and sizes with their unit; beyond those, any token that
holds a digit, except short names with one digit such as SOCKS5, eth0 or HTTP/1.1, which name a
kind of thing rather than an instance. A run of variables (a list of ids) becomes one <*>.

The miner then groups the masked token sequences: a fixed-depth tree keyed by token count and
the first tokens leads to a few clusters, and a message joins the most similar one (share of
equal tokens >= SIMILARITY), turning the positions that differ into <*>. When the first tokens
themselves vary (`com.apple.X: ...`), the other clusters of that length are searched too, with a
stricter threshold. Its state is plain JSON (no pickle), and the tree is rebuilt from the
clusters on load, so a state file can only ever describe clusters.
"""

import re
from dataclasses import dataclass

WILDCARD = "<*>"
SIMILARITY = 0.5          # Drain's st: share of equal tokens needed to join a cluster in the leaf
CROSS_SIMILARITY = 0.8    # the same across leaves, where the first tokens differ
PREFIX_TOKENS = 2         # tree depth below the token count (Drain's depth 4 - 2)
MAX_CHILDREN = 100        # per tree node; more distinct prefixes share the wildcard child
MAX_TOKENS = 256          # longer messages are templated on their first tokens only
STATE_VERSION = 2         # 2: the masking of version 1 cut messages into other tokens

# Tokens end at whitespace and at the punctuation that separates a key from its value, so
# `port=8080` keeps its key. A variable starts at a token start (the lookbehind also lets the
# engine skip quickly to token starts: this regex is most of the cost of reading a line), and each
# kind begins with what tells it apart, so that a plain word fails them at once.
_SEP = r"\s=:,;()\[\]{}\"'"
_END = rf"(?![^{_SEP}])"
_NAME_WITH_DIGIT = rf"[A-Za-z][A-Za-z_]*+/?\d(?:\.\d)?[A-Za-z]*+{_END}"  # SOCKS5, eth0, HTTP/1.1
VARIABLE = re.compile(
    rf"(?:^|(?<=[{_SEP}]))(?=[^{_SEP}\d./\\@]*+[\d./\\@])(?:"  # a plain word fails here at once
    rf"[/\\][^{_SEP}?]++(?:\?[^\s\"']*+)?"               # /a/b/c?x=1, \Windows\x (C:<*>), //host/x
    rf"|(?!{_NAME_WITH_DIGIT})[^{_SEP}\d]*+\d[^{_SEP}]*+"  # any token with a digit...
    rf"(?::+[0-9A-Fa-f][^{_SEP}]*+)*+"                   # ...and :parts: 10.0.0.1:80, 07:07:00, IPv6
    rf"|(?:[\w-]++\.)++[\w-]++:\d++{_END}"                 # example.com:443
    rf"|(?:[\w-]++\.){{2,}}[a-z]{{2,}}{_END}"                # host.example.com
    rf"|[\w.+-]++@[\w.-]++{_END})")                       # user@host
# Variables the masked text shows: a run of them (a list of ids, a date's numbers), a number and
# its unit (`12 ms`, `1234 bytes (1.2 KB)`, `<1 sec`), a date with month and day names.
_UNIT = (r"(?:ms|us|µs|ns|s|secs?|seconds?|mins?|minutes?|hours?|days?"
         r"|[KMGTP]i?B|bytes?|\(<\*> ?[KMGTP]i?B\))(?!\w)")
MONTHS = ("Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ", "Dec ")
_MONTH = rf"(?:{'|'.join(m.strip() for m in MONTHS)})"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
DATE = re.compile(rf"(?:{_DAY},? )?{_MONTH} +<\*>(?: <\*>)*")
RUN = re.compile(rf"<\*>(?:(?:,? )(?:<\*>|{_UNIT})|,<\*>)+")
_EMPTY_MARKS = ("()", "[]", '""', "''")
EMPTY = re.compile(rf"(?:^|(?<=[\s=]))(?:{'|'.join(map(re.escape, _EMPTY_MARKS))})(?![^\s,;.])")
SPLIT = re.compile(r"\s+|(?<==)(?=\S)")  # `key=value` is two tokens: the key is constant


def mask(message: str) -> str:
    """The message with its variables replaced: 'took 12 ms' -> 'took <*>'."""
    masked = shape(message)
    if "<*> " in masked or "<*>," in masked:
        masked = RUN.sub(WILDCARD, masked)
    if any(month in masked for month in MONTHS):  # DATE alone costs as much as VARIABLE on every line
        masked = DATE.sub(WILDCARD, masked)
    if any(mark in masked for mark in _EMPTY_MARKS):
        masked = EMPTY.sub(_fill, masked)
    return masked


def shape(line: str) -> str:
    """The line with only its variable tokens replaced: what mask() does beyond them depends on
    nothing else, so lines of one shape mask alike (a cache key, cheaper than mask())."""
    return VARIABLE.sub(WILDCARD, line)


def _fill(empty: re.Match) -> str:
    """An empty value is a variable too: `from x () at` -> `from x (<*>) at`, like `from x (y) at`."""
    return empty[0][0] + WILDCARD + empty[0][1]


def variables(message: str) -> list[str]:
    """The variables mask() replaces, in order: 'took 12 ms' -> ['12']."""
    return VARIABLE.findall(message)


@dataclass
class Cluster:
    id: int
    tokens: list[str]
    size: int = 0

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


def tokenize(masked: str) -> list[str]:
    return SPLIT.split(masked.strip())[:MAX_TOKENS] if masked.strip() else [""]


def similarity(template: list[str], tokens: list[str]) -> float:
    """Drain's simSeq: the share of positions where the template's constant token is the message's."""
    return sum(a == b for a, b in zip(template, tokens) if a != WILDCARD) / len(tokens)


class TemplateMiner:
    """Masked message -> template cluster. Not thread-safe: the caller serialises access."""

    def __init__(self):
        self.clusters: list[Cluster] = []
        self._tree: dict = {}
        self._by_length: dict[int, list[int]] = {}
        self._seen: dict[str, int] = {}   # masked message -> cluster id: the fast path

    def add(self, masked: str) -> Cluster:
        """The cluster of a masked message, creating or generalising one as needed."""
        cid = self._seen.get(masked)
        if cid is not None:
            cluster = self.clusters[cid]
            cluster.size += 1
            return cluster
        tokens = tokenize(masked)
        cluster = self._search(tokens)
        if cluster is None:
            cluster = Cluster(len(self.clusters), tokens)
            self._insert(cluster)
        else:
            self._generalise(cluster, tokens)
        cluster.size += 1
        if len(self._seen) < 1_000_000:  # bounded: a stream of unique messages cannot grow it forever
            self._seen[masked] = cluster.id
        return cluster

    def match(self, masked: str) -> Cluster | None:
        """The cluster a masked message belongs to, without learning anything."""
        cid = self._seen.get(masked)
        if cid is not None:
            return self.clusters[cid]
        return self._search(tokenize(masked))

    def _search(self, tokens: list[str]) -> Cluster | None:
        leaf = self._leaf(tokens, create=False) or []
        best = self._best(leaf, tokens, SIMILARITY)
        if best is None:
            in_leaf = set(leaf)
            others = [cid for cid in self._by_length.get(len(tokens), ()) if cid not in in_leaf]
            best = self._best(others, tokens, CROSS_SIMILARITY)
        return best

    def _insert(self, cluster: Cluster) -> None:
        self.clusters.append(cluster)
        self._leaf(cluster.tokens).append(cluster.id)
        self._by_length.setdefault(len(cluster.tokens), []).append(cluster.id)

    def _generalise(self, cluster: Cluster, tokens: list[str]) -> None:
        """Turn the positions where the message differs into <*>; a cluster whose first tokens
        became <*> moves to the leaf those lead to, where later messages look first."""
        merged = [a if a == b else WILDCARD for a, b in zip(cluster.tokens, tokens)]
        if merged[:PREFIX_TOKENS] != cluster.tokens[:PREFIX_TOKENS]:
            self._leaf(cluster.tokens).remove(cluster.id)
            self._leaf(merged).append(cluster.id)
        cluster.tokens = merged

    def _leaf(self, tokens: list[str], create: bool = True) -> list[int] | None:
        node = self._tree.setdefault(len(tokens), {}) if create else self._tree.get(len(tokens))
        for token in tokens[:PREFIX_TOKENS]:
            if node is None:
                return None
            key = WILDCARD if WILDCARD in token else token
            if key not in node and len(node) >= MAX_CHILDREN:
                key = WILDCARD
            node = node.setdefault(key, {}) if create else node.get(key)
        if node is None:
            return None
        return node.setdefault("", []) if create else node.get("")

    def _best(self, candidates, tokens: list[str], threshold: float) -> Cluster | None:
        """The most similar cluster, if similar enough; ties go to the more general one."""
        best, best_key = None, (threshold, -1)
        for cid in candidates:
            cluster = self.clusters[cid]
            key = (similarity(cluster.tokens, tokens), cluster.tokens.count(WILDCARD))
            if key >= best_key:
                best, best_key = cluster, key
        return best

    def to_json(self) -> dict:
        return {"version": STATE_VERSION,
                "clusters": [{"id": c.id, "tokens": c.tokens, "size": c.size} for c in self.clusters]}

    @classmethod
    def from_json(cls, state: dict) -> "TemplateMiner":
        """Rebuild from to_json(); ValueError if the state is not one this version wrote."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("template state of another version")
        miner = cls()
        for i, raw in enumerate(state.get("clusters") or []):
            tokens, size = raw.get("tokens"), raw.get("size")
            if (raw.get("id") != i or not isinstance(tokens, list) or not tokens
                    or not all(isinstance(t, str) for t in tokens) or not isinstance(size, int)):
                raise ValueError(f"template cluster {i} is malformed")
            miner._insert(Cluster(i, tokens, size))
        return miner
