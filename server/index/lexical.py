"""Terms for the FTS5 (BM25) side of search: identifiers split on case and underscores.

`parseHTTPHeader` is indexed as `parsehttpheader parse http header`, so a query can match the
whole name or its words. Queries drop common English words and become an OR of quoted terms.
"""

import re
from collections import Counter

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
MAX_QUERY_TERMS = 64  # a long code selection keeps its rarest-looking (longest, repeated) terms
STOPWORDS = frozenset("""
a an and are as at be by can do does for from has have how i if in into is it its me my not of on
or our should so than that the their them then there these this to was we what when where which
while who why will with you your get set return returns self none true false def""".split())


def terms(text: str) -> list[str]:
    """Lower-case terms of `text`: each identifier and, when it has several, its parts."""
    out = []
    for token in IDENTIFIER.findall(text):
        whole = token.lower()
        out.append(whole)
        parts = [p.lower() for p in PART.findall(token)]
        if len(parts) > 1:
            out += parts
    return out


def document(symbol: str, path: str, text: str) -> tuple[str, str]:
    """The (name, body) columns stored for a chunk: symbol and path words, then the code."""
    return " ".join(terms(f"{symbol} {path}")), " ".join(terms(text))


def match_query(text: str) -> str:
    """An FTS5 MATCH expression (OR of quoted terms), or "" when nothing is left to match."""
    counts = Counter(t for t in terms(text) if t not in STOPWORDS and len(t) > 1)
    ranked = sorted(counts, key=lambda t: (-counts[t] * len(t), t))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{t}"' for t in ranked)
