"""Masking of variables and Drain-style template mining (He et al., ICWS 2017).

mask() replaces what is obviously a variable (IPs, UUIDs, hex, numbers: any token holding a
digit) with <*> and keeps the replaced text as parameters. The miner then groups the masked
token sequences: a fixed-depth tree keyed by token count and the first tokens leads to a few
clusters, and a message joins the most similar one (share of equal tokens >= SIMILARITY),
turning the positions that differ into <*>. Its state is plain JSON (no pickle), and the tree is
rebuilt from the clusters on load, so a state file can only ever describe clusters.
"""

import re
from dataclasses import dataclass

WILDCARD = "<*>"
SIMILARITY = 0.5        # Drain's st: share of equal tokens needed to join a cluster
PREFIX_TOKENS = 2       # tree depth below the token count (Drain's depth - 2)
MAX_CHILDREN = 100      # per tree node; more distinct prefixes share the wildcard child
MAX_TOKENS = 256        # longer messages are templated on their first tokens only
STATE_VERSION = 1

# A variable is any token holding a digit (numbers, ids, IPs, hex, UUIDs, versioned paths). Tokens
# end at whitespace and at the punctuation that separates a key from its value, so `port=8080`
# keeps its key and `10.0.0.1:80` becomes `<*>:<*>`. The lookbehind lets the engine skip quickly
# to token starts: this regex is most of the cost of reading a line.
_SEPARATORS = r"\s=:,;()\[\]{}\"'"
VARIABLE = re.compile(rf"(?:^|(?<=[{_SEPARATORS}]))[^{_SEPARATORS}]*\d[^{_SEPARATORS}]*")
SPLIT = re.compile(r"\s+|(?<==)(?=\S)")  # `key=value` is two tokens: the key is constant


def mask(message: str) -> str:
    """The message with its variables replaced: 'took 12 ms' -> 'took <*> ms'."""
    return VARIABLE.sub(WILDCARD, message)


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


class TemplateMiner:
    """Masked message -> template cluster. Not thread-safe: the caller serialises access."""

    def __init__(self):
        self.clusters: list[Cluster] = []
        self._tree: dict = {}
        self._seen: dict[str, int] = {}   # masked message -> cluster id: the fast path

    def add(self, masked: str) -> Cluster:
        """The cluster of a masked message, creating or generalising one as needed."""
        cid = self._seen.get(masked)
        if cid is not None:
            cluster = self.clusters[cid]
            cluster.size += 1
            return cluster
        tokens = SPLIT.split(masked.strip())[:MAX_TOKENS] if masked.strip() else [""]
        leaf = self._leaf(tokens)
        cluster = self._best(leaf, tokens)
        if cluster is None:
            cluster = Cluster(len(self.clusters), tokens)
            self.clusters.append(cluster)
            leaf.append(cluster.id)
        else:
            cluster.tokens = [a if a == b else WILDCARD for a, b in zip(cluster.tokens, tokens)]
        cluster.size += 1
        if len(self._seen) < 1_000_000:  # bounded: a stream of unique messages cannot grow it forever
            self._seen[masked] = cluster.id
        return cluster

    def match(self, masked: str) -> Cluster | None:
        """The cluster a masked message belongs to, without learning anything."""
        cid = self._seen.get(masked)
        if cid is not None:
            return self.clusters[cid]
        tokens = SPLIT.split(masked.strip())[:MAX_TOKENS] if masked.strip() else [""]
        return self._best(self._leaf(tokens, create=False) or [], tokens)

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

    def _best(self, leaf: list[int], tokens: list[str]) -> Cluster | None:
        best, best_score = None, -1.0
        for cid in leaf:
            cluster = self.clusters[cid]
            same = sum(a == b for a, b in zip(cluster.tokens, tokens) if a != WILDCARD)
            wild = sum(a == WILDCARD for a in cluster.tokens)
            score = same / len(tokens)
            if score > best_score or (score == best_score and best and wild > best_wild):
                best, best_score, best_wild = cluster, score, wild
        return best if best is not None and best_score >= SIMILARITY else None

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
            cluster = Cluster(i, tokens, size)
            miner.clusters.append(cluster)
            miner._leaf(tokens).append(i)
        return miner
