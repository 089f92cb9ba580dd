"""Admin endpoints for reports partners sent (protocol §7.10): what a gatekeeper's moderation
would see. Each disclosed message is shown as sent (base64) and decoded with the content schema."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridge.content import ContentError, parse_payload

from .admin_api import json_error
from .simulated_content import content_to_json
from .storage.reports import StoredReport

if TYPE_CHECKING:
    from .server import SandboxGateway


def add_admin_report_routes(app: web.Application, gateway: SandboxGateway, prefix: str) -> None:
    api = ReportApi(gateway)
    app.router.add_get(f"{prefix}/reports", api.list_reports)
    app.router.add_get(f"{prefix}/reports/{{report_id}}", api.get_report)


def _decoded(plaintext_b64: str) -> dict[str, Any]:
    try:
        payload = parse_payload(base64.b64decode(plaintext_b64))
    except (ContentError, ValueError, binascii.Error) as e:
        return {"kind": "undecodable", "error": type(e).__name__}
    model = payload.content if payload.content is not None else payload.sender_key_distribution
    return content_to_json(model)


class ReportApi:
    def __init__(self, gateway: SandboxGateway) -> None:
        self.gw = gateway

    async def _json(self, report: StoredReport) -> dict[str, Any]:
        router = self.gw.router
        return {
            "report_id": report.report_id,
            "reporter": report.reporter,
            "reporter_name": await router.username_of(report.reporter),
            "reported": report.reported,
            "reported_name": await router.username_of(report.reported),
            "reason": report.reason,
            "block_requested": report.block_requested,
            "received_at": report.received_at,
            "messages": [{**m, "content": _decoded(m["plaintext"])} for m in report.messages],
        }

    async def list_reports(self, request: web.Request) -> web.Response:
        """``?reporter=ADDRESS`` and ``?reported=ADDRESS`` narrow the list; oldest first."""
        reports = await self.gw.reports.list(reporter=request.query.get("reporter"),
                                             reported=request.query.get("reported"))
        return web.json_response({"reports": [await self._json(r) for r in reports]})

    async def get_report(self, request: web.Request) -> web.Response:
        report = await self.gw.reports.get(request.match_info["report_id"])
        if report is None:
            return json_error(404, "not_found", "no such report")
        return web.json_response(await self._json(report))
