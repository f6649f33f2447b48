"""Terms for the FTS5 (BM25) side of search: identifiers split on case and underscores.

`parseHTTPHeader` is indexed as `parsehttpheader parse http header`, so a query can match the
whole name or its words. Queries drop common English words and become an OR of quoted terms.

FTS5 computes BM25 for every row that matches (about 2 µs a row), so at 100k chunks a query
term found in 15k of them costs 30 ms by itself while adding little to the ranking (its idf
is low). A large index therefore scores only the rows worth scoring: see candidate_gate().
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
# Rows BM25 may score for the rare terms of one query (~6 ms); beyond it, common terms must pair up.
ROW_BUDGET = 3000
PAIRED_TERMS = 5  # the rarest common terms that pair up (10 pairs); the others only add to scores


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


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, most telling first (long and repeated), stopwords dropped."""
    counts = Counter(t for t in terms(text) if t not in STOPWORDS and len(t) > 1)
    return sorted(counts, key=lambda t: (-counts[t] * len(t), t))[:MAX_QUERY_TERMS]


def share_of_name(name: str, query_words: set[str]) -> float:
    """How much of a name the query says: its terms found among `query_words`, over their number
    plus one, which damps the short names (`put`, `get`) that match by one common word."""
    words = set(terms(name))
    return len(words & query_words) / (len(words) + 1)


def any_of(words: list[str]) -> str:
    """An FTS5 MATCH expression: an OR of quoted terms."""
    return " OR ".join(f'"{w}"' for w in words)


def candidate_gate(words: list[str], doc_freq: dict[str, int], budget: int) -> str:
    """An FTS5 expression for the rows worth scoring, or "" when scoring every match fits `budget`.

    The rarest terms, while their rows fit the budget, admit any row that holds one of them;
    the other (common) terms admit a row only in pairs. A row with a single common term and no
    rare one scores at most about 2.2 x a low idf, so it cannot outrank the rows kept. Every
    term still adds to the score of the rows admitted: ranking among them stays exact BM25.
    """
    if sum(doc_freq[w] for w in words) <= budget:
        return ""
    by_rarity = sorted(words, key=lambda w: (doc_freq[w], w))
    rare, rows = [], 0
    for word in by_rarity:
        if rows + doc_freq[word] > budget:
            break
        rare.append(word)
        rows += doc_freq[word]
    common = by_rarity[len(rare):][:PAIRED_TERMS]
    pairs = [f'("{a}" AND "{b}")' for i, a in enumerate(common) for b in common[i + 1:]]
    return " OR ".join(([any_of(rare)] if rare else []) + pairs)
