"""``python -m bridge.sandbox.admin_cli``: drive a running sandbox through its admin API.

    SANDBOX_ADMIN_SECRET=… python -m bridge.sandbox.admin_cli [--url URL] COMMAND …

Prints the JSON answer; exits 1 when the sandbox answered with an error status.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp

PREFIX = "/_sandbox/admin/v1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bridge.sandbox.admin_cli")
    parser.add_argument("--url", default=os.environ.get("SANDBOX_URL", "http://127.0.0.1:29400"))
    parser.add_argument("--secret", default=None, help="default: env SANDBOX_ADMIN_SECRET")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("partners", help="list enlisted partner users")
    sub.add_parser("users", help="list gatekeeper users")
    create = sub.add_parser("create-user", help="create a gatekeeper user")
    create.add_argument("username")
    create.add_argument("--not-opted-in", action="store_true")
    create.add_argument("--simulate", action="store_true",
                        help="also give it a Signal identity and publish its keys")
    for name in ("opt-in", "opt-out", "simulate"):
        sub.add_parser(name).add_argument("username")
    sub.add_parser("reset-identity", help="a simulated user reinstalls: new identity key, "
                   "contacts are told").add_argument("username")
    sub.add_parser("inbox", aliases=["received"],
                   help="what a simulated user received, decoded").add_argument("username")
    for name in ("block", "unblock"):
        command = sub.add_parser(name, help=f"{name} an address in OWNER's blocklist")
        command.add_argument("owner")
        command.add_argument("address")
    send = sub.add_parser("send", help="a simulated user sends a message")
    send.add_argument("username")
    send.add_argument("to")
    source = send.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="plaintext bytes (e.g. encoded content)")
    source.add_argument("--raw-text", help="UTF-8 bytes as the plaintext (padded for you)")
    send.add_argument("--type", default="text", choices=["text", "media", "reaction"])
    send.add_argument("--id")
    add_content_commands(sub)
    typing = sub.add_parser("typing", help="a simulated user starts or stops typing")
    typing.add_argument("username")
    typing.add_argument("to")
    typing.add_argument("--paused", action="store_true")
    read = sub.add_parser("read", help="a simulated user sends a read receipt")
    read.add_argument("username")
    read.add_argument("to")
    read.add_argument("message_id")
    mailbox = sub.add_parser("mailbox", help="what waits in an address's mailbox")
    mailbox.add_argument("address")
    reports = sub.add_parser("reports", help="reports partners sent, with the disclosed messages")
    reports.add_argument("--reporter", help="only reports by this address")
    reports.add_argument("--reported", help="only reports about this address")
    sub.add_parser("report", help="one report").add_argument("report_id")
    advance = sub.add_parser("advance-clock", help="move the test clock (needs --test-clock)")
    advance.add_argument("--days", type=float, default=0)
    advance.add_argument("--seconds", type=float, default=0)
    return parser


def _sender_and_recipient(sub, name: str, help: str) -> argparse.ArgumentParser:
    command = sub.add_parser(name, help=help)
    command.add_argument("username", help="the simulated gatekeeper user who sends")
    command.add_argument("to", help="internal id, user-visible id or gatekeeper username")
    return command


def add_content_commands(sub) -> None:
    """One command per kind of content (``POST …/send/{kind}``)."""
    text = _sender_and_recipient(sub, "send-text", "send text (markup and mentions allowed)")
    text.add_argument("text")
    text.add_argument("--mention", action="append", default=[],
                      help="a mentioned user's id (repeatable); write @username in the text")
    text.add_argument("--reply-to", help="quote this message id")
    reply = _sender_and_recipient(sub, "reply", "reply to a message, quoting it")
    reply.add_argument("target", help="the quoted message id")
    reply.add_argument("text")
    media = _sender_and_recipient(sub, "send-media", "encrypt, upload and send a file")
    media.add_argument("file", type=Path)
    media.add_argument("--kind", default="document",
                       choices=["image", "video", "audio", "document", "sticker"])
    media.add_argument("--mime-type")
    media.add_argument("--caption")
    media.add_argument("--file-name", help="document file name (default: the file's name)")
    media.add_argument("--voice-note", action="store_true", help="audio: a voice note")
    media.add_argument("--duration", type=int, help="audio/video length in seconds")
    media.add_argument("--reply-to", help="quote this message id")
    location = _sender_and_recipient(sub, "send-location", "send a location")
    location.add_argument("latitude", type=float)
    location.add_argument("longitude", type=float)
    location.add_argument("--name")
    location.add_argument("--address")
    react = _sender_and_recipient(sub, "react", "react to a message")
    react.add_argument("target")
    react.add_argument("emoji")
    unreact = _sender_and_recipient(sub, "unreact", "revoke one's reaction to a message")
    unreact.add_argument("target")
    edit = _sender_and_recipient(sub, "edit", "replace the text of one's own message")
    edit.add_argument("target")
    edit.add_argument("text")
    revoke = _sender_and_recipient(sub, "revoke", "delete one's own message for everyone")
    revoke.add_argument("target")
    for command in (text, reply, media, location, react, unreact, edit, revoke):
        command.add_argument("--id", help="stanza id (default: a random one)")


def content_request(args: argparse.Namespace) -> tuple[str, dict[str, object]] | None:
    """(kind, body) of a content command; None for other commands."""
    c = args.command
    body: dict[str, object] = {"to": args.to} if hasattr(args, "to") else {}
    if c == "send-text":
        body.update(text=args.text, mentions=args.mention)
        kind = "text"
    elif c == "reply":
        body.update(text=args.text, reply_to=args.target)
        kind = "reply"
    elif c == "send-media":
        body.update(kind=args.kind, data=base64.b64encode(args.file.read_bytes()).decode(),
                    voice_note=args.voice_note)
        if args.kind == "document":
            body["file_name"] = args.file_name or args.file.name
        for key, value in (("mime_type", args.mime_type), ("caption", args.caption),
                           ("duration_seconds", args.duration)):
            if value is not None:
                body[key] = value
        kind = "media"
    elif c == "send-location":
        body.update(latitude=args.latitude, longitude=args.longitude)
        body.update({k: v for k, v in (("name", args.name), ("address", args.address)) if v})
        kind = "location"
    elif c in ("react", "unreact"):
        body.update(target=args.target, emoji=getattr(args, "emoji", ""))
        kind = "reaction"
    elif c in ("edit", "revoke"):
        body["target"] = args.target
        if c == "edit":
            body["text"] = args.text
        kind = c
    else:
        return None
    if getattr(args, "reply_to", None):
        body["reply_to"] = args.reply_to
    if args.id:
        body["id"] = args.id
    return kind, body


def request_for(args: argparse.Namespace) -> tuple[str, str, object | None]:
    c = args.command
    content = content_request(args)
    if content is not None:
        kind, body = content
        return "POST", f"/gatekeeper-users/{args.username}/send/{kind}", body
    if c == "partners":
        return "GET", "/partners", None
    if c == "users":
        return "GET", "/gatekeeper-users", None
    if c == "create-user":
        return "POST", "/gatekeeper-users", {"username": args.username,
                                             "opted_in": not args.not_opted_in}
    if c in ("opt-in", "opt-out", "simulate", "reset-identity"):
        return "POST", f"/gatekeeper-users/{args.username}/{c}", None
    if c in ("inbox", "received"):
        return "GET", f"/gatekeeper-users/{args.username}/inbox", None
    if c == "block":
        return "POST", f"/blocks/{args.owner}", {"address": args.address}
    if c == "unblock":
        return "DELETE", f"/blocks/{args.owner}/{args.address}", None
    if c == "send":
        plaintext = args.file.read_bytes() if args.file else args.raw_text.encode()
        body = {"to": args.to, "plaintext": base64.b64encode(plaintext).decode(),
                "type": args.type, "pad": args.raw_text is not None}
        if args.id:
            body["id"] = args.id
        return "POST", f"/gatekeeper-users/{args.username}/send", body
    if c == "typing":
        return "POST", f"/gatekeeper-users/{args.username}/typing", {
            "to": args.to, "state": "paused" if args.paused else "composing"}
    if c == "read":
        return "POST", f"/gatekeeper-users/{args.username}/read", {"to": args.to,
                                                                   "id": args.message_id}
    if c == "mailbox":
        return "GET", f"/mailbox/{args.address}", None
    if c == "reports":
        query = urlencode({k: v for k, v in (("reporter", args.reporter),
                                             ("reported", args.reported)) if v})
        return "GET", "/reports" + (f"?{query}" if query else ""), None
    if c == "report":
        return "GET", f"/reports/{quote(args.report_id, safe='')}", None
    if c == "advance-clock":
        return "POST", "/clock/advance", {"days": args.days, "seconds": args.seconds}
    raise SystemExit(f"unknown command {c}")


async def call(url: str, secret: str, method: str, path: str, body: object | None
               ) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url.rstrip("/") + PREFIX + path, json=body,
                     headers={"Authorization": f"Bearer {secret}"}) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def run(args: argparse.Namespace) -> int:
    secret = args.secret if args.secret is not None else os.environ.get("SANDBOX_ADMIN_SECRET", "")
    method, path, body = request_for(args)
    status, answer = await call(args.url, secret, method, path, body)
    if args.command == "create-user" and args.simulate and status < 300:
        status, _ = await call(args.url, secret, "POST",
                               f"/gatekeeper-users/{args.username}/simulate", None)
    print(json.dumps(answer, indent=2))
    # A send the gateway refused (e.g. 409 blocked) is answered 200 with an "error" member.
    refused = isinstance(answer, dict) and "error" in answer
    return 0 if status < 300 and not refused else 1


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(run(build_parser().parse_args(argv))))


if __name__ == "__main__":
    main()
