"""The bridge's components the bot commands use, built once by the composition root."""

from __future__ import annotations

import attrs

from ..chats.reporting import Reporting
from ..chats.requests import MessageRequests
from ..config import Config
from ..matrix.e2ee import MatrixEncryption
from ..matrix.notices import UserNotices
from ..matrix.portals import Portals
from ..matrix.puppet import Puppets
from ..matrix.spaces import InboxSpaces
from ..matrix.users import MatrixUsers
from ..metrics import BridgeMetrics
from ..partner.service import PartnerService
from ..storage import Database


@attrs.frozen(kw_only=True)
class CommandServices:
    config: Config
    db: Database
    users: MatrixUsers
    partners: PartnerService
    portals: Portals
    puppets: Puppets
    spaces: InboxSpaces
    #: None when ``bridge.message_requests`` is off
    requests: MessageRequests | None
    reporting: Reporting
    #: None when ``bridge.encryption.allow`` is off
    encryption: MatrixEncryption | None
    metrics: BridgeMetrics
    notices: UserNotices
