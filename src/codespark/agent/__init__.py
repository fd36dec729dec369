"""The real-time coding agent: a client of the Responses protocol (never imports api/ or engine/).

Start with `AgentSession` (session.py): its module docstring documents the interface a UI drives.
"""

from .events import AgentEvent
from .formats import DEFAULT_EDIT_FORMAT, FORMATS
from .modes import MODES
from .session import AgentSession
from .settings import AgentOptions
from .transport import HttpTransport, ResponsesError, TransportClosed, WebSocketTransport

__all__ = [
    "DEFAULT_EDIT_FORMAT",
    "FORMATS",
    "MODES",
    "AgentEvent",
    "AgentOptions",
    "AgentSession",
    "HttpTransport",
    "ResponsesError",
    "TransportClosed",
    "WebSocketTransport",
]
