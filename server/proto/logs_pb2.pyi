from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogInput(_message.Message):
    __slots__ = ("model", "session_key", "sensitivity", "source", "data", "first_line", "repo")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SESSION_KEY_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FIRST_LINE_FIELD_NUMBER: _ClassVar[int]
    REPO_FIELD_NUMBER: _ClassVar[int]
    model: str
    session_key: str
    sensitivity: float
    source: str
    data: bytes
    first_line: int
    repo: str
    def __init__(self, model: _Optional[str] = ..., session_key: _Optional[str] = ..., sensitivity: _Optional[float] = ..., source: _Optional[str] = ..., data: _Optional[bytes] = ..., first_line: _Optional[int] = ..., repo: _Optional[str] = ...) -> None: ...

class TrainReply(_message.Message):
    __slots__ = ("lines", "templates", "sessions", "path")
    LINES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    lines: int
    templates: int
    sessions: int
    path: str
    def __init__(self, lines: _Optional[int] = ..., templates: _Optional[int] = ..., sessions: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class LineScore(_message.Message):
    __slots__ = ("line", "score", "anomaly", "template_id", "template", "session", "reason", "source")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    line: int
    score: float
    anomaly: bool
    template_id: int
    template: str
    session: str
    reason: str
    source: str
    def __init__(self, line: _Optional[int] = ..., score: _Optional[float] = ..., anomaly: _Optional[bool] = ..., template_id: _Optional[int] = ..., template: _Optional[str] = ..., session: _Optional[str] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class SessionScore(_message.Message):
    __slots__ = ("session", "score", "anomaly", "lines", "reason")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    session: str
    score: float
    anomaly: bool
    lines: int
    reason: str
    def __init__(self, session: _Optional[str] = ..., score: _Optional[float] = ..., anomaly: _Optional[bool] = ..., lines: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ScoreBatch(_message.Message):
    __slots__ = ("lines", "sessions", "threshold", "threshold_basis")
    LINES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_BASIS_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LineScore]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionScore]
    threshold: float
    threshold_basis: str
    def __init__(self, lines: _Optional[_Iterable[_Union[LineScore, _Mapping]]] = ..., sessions: _Optional[_Iterable[_Union[SessionScore, _Mapping]]] = ..., threshold: _Optional[float] = ..., threshold_basis: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("line", "session", "text", "suppressed", "location")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    line: LineScore
    session: SessionScore
    text: str
    suppressed: int
    location: str
    def __init__(self, line: _Optional[_Union[LineScore, _Mapping]] = ..., session: _Optional[_Union[SessionScore, _Mapping]] = ..., text: _Optional[str] = ..., suppressed: _Optional[int] = ..., location: _Optional[str] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("source", "acked_through", "alerts", "lines_seen")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ACKED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    LINES_SEEN_FIELD_NUMBER: _ClassVar[int]
    source: str
    acked_through: int
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    lines_seen: int
    def __init__(self, source: _Optional[str] = ..., acked_through: _Optional[int] = ..., alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., lines_seen: _Optional[int] = ...) -> None: ...
