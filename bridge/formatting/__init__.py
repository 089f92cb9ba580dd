"""Formatting: Matrix HTML to and from the gateway content format's markup.

- `remote_to_matrix(text, mentions, resolve)` → `MatrixText` (body, HTML, mentioned mxids)
- `await matrix_to_remote(body, formatted_body, resolve)` → `RemoteText` (markup, internal ids)
"""

from .to_gateway import matrix_to_remote, pill_targets, strip_reply_fallback
from .to_matrix import remote_to_matrix
from .types import (
    HTML_FORMAT,
    MatrixMention,
    MatrixText,
    MatrixToRemoteResolver,
    RemoteMention,
    RemoteText,
    RemoteToMatrixResolver,
)

__all__ = [
    "HTML_FORMAT",
    "MatrixMention",
    "MatrixText",
    "MatrixToRemoteResolver",
    "RemoteMention",
    "RemoteText",
    "RemoteToMatrixResolver",
    "matrix_to_remote",
    "pill_targets",
    "remote_to_matrix",
    "strip_reply_fallback",
]
