from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HYBRID: _ClassVar[Mode]
    DENSE: _ClassVar[Mode]
    LEXICAL: _ClassVar[Mode]
HYBRID: Mode
DENSE: Mode
LEXICAL: Mode

class IndexRequest(_message.Message):
    __slots__ = ("repo", "rebuild")
    REPO_FIELD_NUMBER: _ClassVar[int]
    REBUILD_FIELD_NUMBER: _ClassVar[int]
    repo: str
    rebuild: bool
    def __init__(self, repo: _Optional[str] = ..., rebuild: _Optional[bool] = ...) -> None: ...

class IndexProgress(_message.Message):
    __slots__ = ("phase", "files_total", "files_done", "chunks_done", "summary", "notice")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PHASE_UNSPECIFIED: _ClassVar[IndexProgress.Phase]
        SCANNING: _ClassVar[IndexProgress.Phase]
        EMBEDDING: _ClassVar[IndexProgress.Phase]
        DONE: _ClassVar[IndexProgress.Phase]
    PHASE_UNSPECIFIED: IndexProgress.Phase
    SCANNING: IndexProgress.Phase
    EMBEDDING: IndexProgress.Phase
    DONE: IndexProgress.Phase
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FILES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FILES_DONE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_DONE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    phase: IndexProgress.Phase
    files_total: int
    files_done: int
    chunks_done: int
    summary: IndexSummary
    notice: str
    def __init__(self, phase: _Optional[_Union[IndexProgress.Phase, str]] = ..., files_total: _Optional[int] = ..., files_done: _Optional[int] = ..., chunks_done: _Optional[int] = ..., summary: _Optional[_Union[IndexSummary, _Mapping]] = ..., notice: _Optional[str] = ...) -> None: ...

class IndexSummary(_message.Message):
    __slots__ = ("repo", "commit", "files_indexed", "files_unchanged", "files_removed", "chunks_embedded", "chunks_reused", "chunks_total", "skipped_binary", "skipped_too_large", "skipped_missing", "lossy_utf8", "seconds", "notices", "skipped_generated")
    REPO_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    FILES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    FILES_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FILES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_REUSED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_BINARY_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_TOO_LARGE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_MISSING_FIELD_NUMBER: _ClassVar[int]
    LOSSY_UTF8_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_GENERATED_FIELD_NUMBER: _ClassVar[int]
    repo: str
    commit: str
    files_indexed: int
    files_unchanged: int
    files_removed: int
    chunks_embedded: int
    chunks_reused: int
    chunks_total: int
    skipped_binary: int
    skipped_too_large: int
    skipped_missing: int
    lossy_utf8: int
    seconds: float
    notices: _containers.RepeatedScalarFieldContainer[str]
    skipped_generated: int
    def __init__(self, repo: _Optional[str] = ..., commit: _Optional[str] = ..., files_indexed: _Optional[int] = ..., files_unchanged: _Optional[int] = ..., files_removed: _Optional[int] = ..., chunks_embedded: _Optional[int] = ..., chunks_reused: _Optional[int] = ..., chunks_total: _Optional[int] = ..., skipped_binary: _Optional[int] = ..., skipped_too_large: _Optional[int] = ..., skipped_missing: _Optional[int] = ..., lossy_utf8: _Optional[int] = ..., seconds: _Optional[float] = ..., notices: _Optional[_Iterable[str]] = ..., skipped_generated: _Optional[int] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("repo", "paths")
    REPO_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    repo: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, repo: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("repo", "query", "top_k", "path_glob", "language", "mode")
    REPO_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PATH_GLOB_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    repo: str
    query: str
    top_k: int
    path_glob: str
    language: str
    mode: Mode
    def __init__(self, repo: _Optional[str] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., path_glob: _Optional[str] = ..., language: _Optional[str] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class SimilarRequest(_message.Message):
    __slots__ = ("repo", "path", "start_line", "end_line", "text", "top_k", "path_glob", "language", "mode")
    REPO_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    START_LINE_FIELD_NUMBER: _ClassVar[int]
    END_LINE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PATH_GLOB_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    repo: str
    path: str
    start_line: int
    end_line: int
    text: str
    top_k: int
    path_glob: str
    language: str
    mode: Mode
    def __init__(self, repo: _Optional[str] = ..., path: _Optional[str] = ..., start_line: _Optional[int] = ..., end_line: _Optional[int] = ..., text: _Optional[str] = ..., top_k: _Optional[int] = ..., path_glob: _Optional[str] = ..., language: _Optional[str] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("path", "start_line", "end_line", "score", "symbol", "kind", "preview")
    PATH_FIELD_NUMBER: _ClassVar[int]
    START_LINE_FIELD_NUMBER: _ClassVar[int]
    END_LINE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    path: str
    start_line: int
    end_line: int
    score: float
    symbol: str
    kind: str
    preview: str
    def __init__(self, path: _Optional[str] = ..., start_line: _Optional[int] = ..., end_line: _Optional[int] = ..., score: _Optional[float] = ..., symbol: _Optional[str] = ..., kind: _Optional[str] = ..., preview: _Optional[str] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "commit")
    HITS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    commit: str
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., commit: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("repo",)
    REPO_FIELD_NUMBER: _ClassVar[int]
    repo: str
    def __init__(self, repo: _Optional[str] = ...) -> None: ...

class RepoStatus(_message.Message):
    __slots__ = ("repo", "indexed_commit", "head", "files", "chunks", "model_id", "last_update", "indexing", "index_path")
    REPO_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COMMIT_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    INDEXING_FIELD_NUMBER: _ClassVar[int]
    INDEX_PATH_FIELD_NUMBER: _ClassVar[int]
    repo: str
    indexed_commit: str
    head: str
    files: int
    chunks: int
    model_id: str
    last_update: float
    indexing: bool
    index_path: str
    def __init__(self, repo: _Optional[str] = ..., indexed_commit: _Optional[str] = ..., head: _Optional[str] = ..., files: _Optional[int] = ..., chunks: _Optional[int] = ..., model_id: _Optional[str] = ..., last_update: _Optional[float] = ..., indexing: _Optional[bool] = ..., index_path: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("daemon", "repos")
    DAEMON_FIELD_NUMBER: _ClassVar[int]
    REPOS_FIELD_NUMBER: _ClassVar[int]
    daemon: DaemonInfo
    repos: _containers.RepeatedCompositeFieldContainer[RepoStatus]
    def __init__(self, daemon: _Optional[_Union[DaemonInfo, _Mapping]] = ..., repos: _Optional[_Iterable[_Union[RepoStatus, _Mapping]]] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("texts", "kind")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CODE: _ClassVar[EmbedRequest.Kind]
        QUERY: _ClassVar[EmbedRequest.Kind]
    CODE: EmbedRequest.Kind
    QUERY: EmbedRequest.Kind
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    kind: EmbedRequest.Kind
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[EmbedRequest.Kind, str]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("vectors", "dim", "model_id")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    dim: int
    model_id: str
    def __init__(self, vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ..., dim: _Optional[int] = ..., model_id: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DaemonInfo(_message.Message):
    __slots__ = ("version", "pid", "started_at", "socket", "tcp_address", "model_id", "ready")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    SOCKET_FIELD_NUMBER: _ClassVar[int]
    TCP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    version: str
    pid: int
    started_at: float
    socket: str
    tcp_address: str
    model_id: str
    ready: bool
    def __init__(self, version: _Optional[str] = ..., pid: _Optional[int] = ..., started_at: _Optional[float] = ..., socket: _Optional[str] = ..., tcp_address: _Optional[str] = ..., model_id: _Optional[str] = ..., ready: _Optional[bool] = ...) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
