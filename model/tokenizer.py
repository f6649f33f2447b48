"""Code-aware subword tokenizer shared by queries and code.

Identifiers are split into words before the subword model sees them, so `parseHTTPHeader_value`,
`parse_http_header_value` and the query "parse the HTTP header value" share the tokens
parse / http / header / value. Every text starts with a kind token, [CODE] or [QUERY], so one
encoder can place natural language and code differently where that helps retrieval.
"""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordPiece
from tokenizers.trainers import WordPieceTrainer

PAD, UNK, CODE, QUERY = "[PAD]", "[UNK]", "[CODE]", "[QUERY]"
SPECIAL_TOKENS = [PAD, UNK, CODE, QUERY]     # PAD first, so its id is 0
KIND_TOKENS = {"code": CODE, "query": QUERY}

# A word boundary inside an identifier: lower/digit -> upper (parseHttp), and the last capital of an
# acronym before a capitalised word (HTTPHeader -> HTTP Header). Zero-width, so nothing is lost.
CASE_BOUNDARY = r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])"


def _normalizer():
    # Order matters: case boundaries must be found before lowercasing erases them.
    return normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.Replace(Regex(CASE_BOUNDARY), " "),
        normalizers.Replace("_", " "),
        normalizers.Lowercase(),
    ])


def _pre_tokenizer():
    return pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Punctuation(behavior="isolated"),   # each symbol its own token: ( ) [ ] . =
        pre_tokenizers.Digits(individual_digits=True),     # numbers as digit sequences, no number vocab
    ])


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2) -> Tokenizer:
    """Learn a WordPiece vocabulary from `texts` (natural language and code alike)."""
    tok = Tokenizer(WordPiece(unk_token=UNK, max_input_chars_per_word=64))
    tok.normalizer = _normalizer()
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                               special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


class CodeTokenizer:
    """Wraps a `tokenizers.Tokenizer` and adds the kind prefix and truncation.

    The wrapped tokenizer is never reconfigured after construction (no padding or truncation
    state is set on it), so one instance can be shared by several threads.
    """

    def __init__(self, tokenizer: Tokenizer, max_tokens: int):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.kind_ids = {}
        for kind, token in KIND_TOKENS.items():
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise ValueError(f"tokenizer has no {token} token; it was not trained by ltlsp")
            self.kind_ids[kind] = token_id
        self.pad_id = tokenizer.token_to_id(PAD)
        if self.pad_id != 0:
            raise ValueError(f"tokenizer must have {PAD} as id 0, found {self.pad_id}")

    @classmethod
    def from_file(cls, path: str, max_tokens: int) -> "CodeTokenizer":
        return cls(Tokenizer.from_file(str(path)), max_tokens)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def tokens(self, text: str) -> list[str]:
        """The subword tokens of `text`, without the kind prefix (for inspection and tests)."""
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

    def encode_batch(self, texts: list[str], kind: str) -> list[list[int]]:
        """Token ids per text: [kind token] + subwords, cut to max_tokens."""
        if kind not in self.kind_ids:
            raise ValueError(f"kind must be one of {sorted(self.kind_ids)}, got {kind!r}")
        prefix = self.kind_ids[kind]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [[prefix] + e.ids[: self.max_tokens - 1] for e in encodings]
