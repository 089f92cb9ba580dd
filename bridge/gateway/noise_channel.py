"""The chat channel's Noise layer as sans-I/O state machines (client and server side).

Both sides consume received bytes and return bytes to send plus events; no sockets here. The
byte stream is: the client's 4-byte intro header (``ISB`` + version byte), then 3-byte
length-prefixed frames both ways (:mod:`.framing`). Frames 1-3 are the Noise XX handshake
messages, every later frame is one Noise transport message holding one encoded stanza.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from noise.connection import Keypair, NoiseConnection
from noise.exceptions import (
    NoiseHandshakeError,
    NoiseInvalidMessage,
    NoiseMaxNonceError,
    NoiseValueError,
)

from .codec import CodecError, Node, StanzaCodec, default_codec
from .errors import ErrorInfo, HandshakeError, ProtocolViolation, ServerKeyMismatch
from .framing import FrameSplitter, encode_frame
from .ids import InternalId, internal_id

NOISE_PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256"
#: What the noiseprotocol library raises for bytes that are not a valid message at this point.
_NOISE_FAILURES = (
    NoiseHandshakeError, NoiseInvalidMessage, NoiseMaxNonceError, NoiseValueError, InvalidTag,
    ValueError,
)
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: frozenset[int] = frozenset({PROTOCOL_VERSION})
INTRO_MAGIC = b"ISB"
INTRO_SIZE = len(INTRO_MAGIC) + 1
#: Largest encoded stanza: a Noise message is at most 65535 bytes, 16 of them the AEAD tag.
MAX_STANZA_SIZE = 65535 - 16


def intro_header(version: int = PROTOCOL_VERSION) -> bytes:
    return INTRO_MAGIC + bytes([version])


def prologue_for(version: int) -> bytes:
    """The Noise prologue names protocol and version, so both sides hash the same context."""
    return b"interop-sandbox protocol v%d" % version


def generate_static_private() -> bytes:
    """A fresh Curve25519 private key (32 raw bytes) for a Noise static identity."""
    from cryptography.hazmat.primitives import serialization

    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def static_public_from_private(private: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


@dataclass(frozen=True, slots=True)
class ClientHello:
    """The payload of the client's final handshake message."""

    version: int
    login: InternalId
    token: str = field(repr=False)  # a bearer credential: keep it out of logs
    client_ip: str | None = None

    def to_node(self) -> Node:
        attrs = {"v": str(self.version), "login": self.login, "token": self.token}
        if self.client_ip:
            attrs["ip"] = self.client_ip
        return Node("hello", attrs)

    @classmethod
    def from_node(cls, node: Node) -> ClientHello:
        if node.tag != "hello":
            raise ProtocolViolation(f"expected hello, got {node.tag}")
        try:
            version = int(node.attrs["v"])
            return cls(version, internal_id(node.attrs["login"]), node.attrs["token"],
                       node.attrs.get("ip"))
        except (KeyError, ValueError) as exc:
            raise ProtocolViolation("hello lacks v, login or token") from exc


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """Server side: the client finished the handshake; decide with ``accept`` or ``refuse``."""

    hello: ClientHello
    client_static: bytes
    announced_version: int


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """Client side: the server accepted us (its ``success`` stanza)."""

    success: Node


@dataclass(frozen=True, slots=True)
class ChannelRefused:
    """Client side: the server refused the hello (``failure``); the server closes."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    node: Node


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The server ended an open channel with a ``stream-error``."""

    error: ErrorInfo


ChannelEvent = HelloReceived | ChannelOpened | ChannelRefused | StanzaReceived | StreamClosed


class ChannelState(enum.Enum):
    AWAIT_INTRO = "await-intro"  # server only
    AWAIT_HANDSHAKE = "await-handshake"
    AWAIT_DECISION = "await-decision"  # client: waiting for success/failure; server: app decides
    OPEN = "open"
    CLOSED = "closed"


class _NoiseSide:
    """Shared pieces: framing, transport encryption and stanza (de)coding."""

    def __init__(self, codec: StanzaCodec | None) -> None:
        self.codec = codec or default_codec()
        self.state = ChannelState.AWAIT_HANDSHAKE
        self._splitter = FrameSplitter()
        self._noise: NoiseConnection | None = None

    def _new_noise(self, static_private: bytes, version: int, initiator: bool) -> NoiseConnection:
        noise = NoiseConnection.from_name(NOISE_PROTOCOL_NAME)
        if initiator:
            noise.set_as_initiator()
        else:
            noise.set_as_responder()
        noise.set_prologue(prologue_for(version))
        noise.set_keypair_from_private_bytes(Keypair.STATIC, static_private)
        noise.start_handshake()
        return noise

    def _seal(self, node: Node) -> bytes:
        assert self._noise is not None
        plaintext = self.codec.encode(node)
        if len(plaintext) > MAX_STANZA_SIZE:
            raise CodecError(f"stanza of {len(plaintext)} bytes exceeds {MAX_STANZA_SIZE}")
        return encode_frame(self._noise.encrypt(plaintext))

    def _open(self, frame: bytes) -> Node:
        assert self._noise is not None
        try:
            plaintext = self._noise.decrypt(frame)
        except _NOISE_FAILURES as exc:
            self.state = ChannelState.CLOSED
            raise HandshakeError("transport message failed authentication") from exc
        return self.codec.decode(plaintext)

    def send_stanza(self, node: Node) -> bytes:
        """Bytes that carry ``node`` to the peer; only once the channel is open."""
        if self.state is not ChannelState.OPEN:
            raise ProtocolViolation(f"cannot send a stanza in state {self.state.value}")
        return self._seal(node)

    def _fail(self, message: str, exc: Exception | None = None) -> HandshakeError:
        self.state = ChannelState.CLOSED
        error = HandshakeError(message)
        if exc is not None:
            error.__cause__ = exc
        return error


class ClientChannel(_NoiseSide):
    """The partner client's end: pins the gatekeeper's static key, sends the hello."""

    def __init__(
        self,
        *,
        static_private: bytes,
        server_static_public: bytes,
        hello: ClientHello,
        codec: StanzaCodec | None = None,
    ) -> None:
        super().__init__(codec)
        self._hello = hello
        self._server_static_public = server_static_public
        self._noise = self._new_noise(static_private, hello.version, initiator=True)
        self._started = False
        self._handshake_frames_seen = 0

    def start(self) -> bytes:
        """The first bytes of the connection: intro header and Noise message 1."""
        if self._started:
            raise ProtocolViolation("channel already started")
        self._started = True
        assert self._noise is not None
        return intro_header(self._hello.version) + encode_frame(bytes(self._noise.write_message()))

    def receive(self, data: bytes) -> tuple[bytes, list[ChannelEvent]]:
        if self.state is ChannelState.CLOSED:
            return b"", []
        outgoing = bytearray()
        events: list[ChannelEvent] = []
        for frame in self._splitter.feed(data):
            if self.state is ChannelState.AWAIT_HANDSHAKE:
                outgoing += self._on_server_handshake(frame)
            elif self.state is ChannelState.AWAIT_DECISION:
                node = self._open(frame)
                if node.tag == "success":
                    self.state = ChannelState.OPEN
                    events.append(ChannelOpened(node))
                elif node.tag == "failure":
                    self.state = ChannelState.CLOSED
                    events.append(ChannelRefused(ErrorInfo.from_node(node)))
                    break
                else:
                    self.state = ChannelState.CLOSED
                    raise ProtocolViolation(f"expected success or failure, got {node.tag}")
            elif self.state is ChannelState.OPEN:
                node = self._open(frame)
                if node.tag == "stream-error":
                    self.state = ChannelState.CLOSED
                    events.append(StreamClosed(ErrorInfo.from_node(node)))
                    break
                events.append(StanzaReceived(node))
            else:
                break
        return bytes(outgoing), events

    def _on_server_handshake(self, frame: bytes) -> bytes:
        assert self._noise is not None
        if not self._started:
            raise ProtocolViolation("receive() before start()")
        handshake_state = self._noise.noise_protocol.handshake_state
        try:
            self._noise.read_message(frame)
        except _NOISE_FAILURES as exc:
            raise self._fail("server handshake message rejected", exc) from exc
        server_static = handshake_state.rs.public_bytes
        if not hmac.compare_digest(server_static, self._server_static_public):
            self.state = ChannelState.CLOSED
            raise ServerKeyMismatch("gateway's Noise static key is not the pinned key")
        payload = self.codec.encode(self._hello.to_node())
        message3 = bytes(self._noise.write_message(payload))
        self.state = ChannelState.AWAIT_DECISION
        return encode_frame(message3)


class ServerChannel(_NoiseSide):
    """The gateway's end. The application checks the hello (see :mod:`.hello_auth`) and then
    calls :meth:`accept` or :meth:`refuse`."""

    def __init__(self, *, static_private: bytes, codec: StanzaCodec | None = None) -> None:
        super().__init__(codec)
        self.state = ChannelState.AWAIT_INTRO
        self._static_private = static_private
        self._intro = bytearray()
        self._handshake_step = 0
        self.client_static: bytes | None = None
        self.announced_version: int | None = None

    def receive(self, data: bytes) -> tuple[bytes, list[ChannelEvent]]:
        if self.state is ChannelState.CLOSED:
            return b"", []
        if self.state is ChannelState.AWAIT_INTRO:
            needed = INTRO_SIZE - len(self._intro)
            self._intro += data[:needed]
            data = data[needed:]
            if len(self._intro) < INTRO_SIZE:
                return b"", []
            if bytes(self._intro[: len(INTRO_MAGIC)]) != INTRO_MAGIC:
                raise self._fail("not an interop-sandbox client (bad intro header)")
            self.announced_version = self._intro[-1]
            self._noise = self._new_noise(self._static_private, self.announced_version, False)
            self.state = ChannelState.AWAIT_HANDSHAKE
        outgoing = bytearray()
        events: list[ChannelEvent] = []
        for frame in self._splitter.feed(data):
            if self.state is ChannelState.AWAIT_HANDSHAKE:
                reply, event = self._on_client_handshake(frame)
                outgoing += reply
                if event is not None:
                    events.append(event)
            elif self.state is ChannelState.OPEN:
                events.append(StanzaReceived(self._open(frame)))
            elif self.state is ChannelState.AWAIT_DECISION:
                raise self._fail("client sent a stanza before success")
        return bytes(outgoing), events

    def _on_client_handshake(self, frame: bytes) -> tuple[bytes, HelloReceived | None]:
        assert self._noise is not None and self.announced_version is not None
        handshake_state = self._noise.noise_protocol.handshake_state
        try:
            payload = bytes(self._noise.read_message(frame))
        except _NOISE_FAILURES as exc:
            raise self._fail("client handshake message rejected", exc) from exc
        self._handshake_step += 1
        if self._handshake_step == 1:
            # Message 2 (e, ee, s, es); its payload is reserved and empty in v1. Writing it
            # computes the DH with the client's ephemeral key, which may be a low-order point.
            try:
                return encode_frame(bytes(self._noise.write_message(b""))), None
            except _NOISE_FAILURES as exc:
                raise self._fail("client ephemeral key rejected", exc) from exc
        self.client_static = handshake_state.rs.public_bytes
        try:
            hello = ClientHello.from_node(self.codec.decode(payload))
        except (CodecError, ProtocolViolation) as exc:
            raise self._fail("handshake payload is not a hello", exc) from exc
        self.state = ChannelState.AWAIT_DECISION
        return b"", HelloReceived(hello, self.client_static, self.announced_version)

    def accept(self, attrs: dict[str, str] | None = None) -> bytes:
        if self.state is not ChannelState.AWAIT_DECISION:
            raise ProtocolViolation("accept() without a pending hello")
        self.state = ChannelState.OPEN
        return self._seal(Node("success", dict(attrs or {})))

    def refuse(self, error: ErrorInfo, extra_attrs: dict[str, str] | None = None) -> bytes:
        """A ``failure`` stanza; the caller closes the connection after sending it."""
        if self.state is not ChannelState.AWAIT_DECISION:
            raise ProtocolViolation("refuse() without a pending hello")
        self.state = ChannelState.CLOSED
        return self._seal(Node("failure", {**error.to_attrs(), **(extra_attrs or {})}))

    def stream_error(self, error: ErrorInfo) -> bytes:
        """Ends an open channel; the caller closes the connection after sending it."""
        if self.state is not ChannelState.OPEN:
            raise ProtocolViolation("stream_error() on a channel that is not open")
        frame = self._seal(Node("stream-error", error.to_attrs()))
        self.state = ChannelState.CLOSED
        return frame
