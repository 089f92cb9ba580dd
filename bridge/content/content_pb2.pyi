from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageKey(_message.Message):
    __slots__ = ("chat_id", "from_me", "id", "participant")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    from_me: bool
    id: str
    participant: str
    def __init__(self, chat_id: _Optional[str] = ..., from_me: _Optional[bool] = ..., id: _Optional[str] = ..., participant: _Optional[str] = ...) -> None: ...

class FormattedText(_message.Message):
    __slots__ = ("text", "mentioned_ids")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_IDS_FIELD_NUMBER: _ClassVar[int]
    text: str
    mentioned_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., mentioned_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContextInfo(_message.Message):
    __slots__ = ("stanza_id", "participant", "quoted_preview")
    STANZA_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    QUOTED_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    stanza_id: str
    participant: str
    quoted_preview: str
    def __init__(self, stanza_id: _Optional[str] = ..., participant: _Optional[str] = ..., quoted_preview: _Optional[str] = ...) -> None: ...

class MediaInfo(_message.Message):
    __slots__ = ("path", "media_key", "sha256_plain", "sha256_enc", "length", "mime_type", "thumbnail")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
    SHA256_PLAIN_FIELD_NUMBER: _ClassVar[int]
    SHA256_ENC_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    path: str
    media_key: bytes
    sha256_plain: bytes
    sha256_enc: bytes
    length: int
    mime_type: str
    thumbnail: bytes
    def __init__(self, path: _Optional[str] = ..., media_key: _Optional[bytes] = ..., sha256_plain: _Optional[bytes] = ..., sha256_enc: _Optional[bytes] = ..., length: _Optional[int] = ..., mime_type: _Optional[str] = ..., thumbnail: _Optional[bytes] = ...) -> None: ...

class TextMessage(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: FormattedText
    def __init__(self, text: _Optional[_Union[FormattedText, _Mapping]] = ...) -> None: ...

class ImageMessage(_message.Message):
    __slots__ = ("media", "caption", "width", "height")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    media: MediaInfo
    caption: FormattedText
    width: int
    height: int
    def __init__(self, media: _Optional[_Union[MediaInfo, _Mapping]] = ..., caption: _Optional[_Union[FormattedText, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class VideoMessage(_message.Message):
    __slots__ = ("media", "caption", "width", "height", "duration_seconds", "gif_playback")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GIF_PLAYBACK_FIELD_NUMBER: _ClassVar[int]
    media: MediaInfo
    caption: FormattedText
    width: int
    height: int
    duration_seconds: int
    gif_playback: bool
    def __init__(self, media: _Optional[_Union[MediaInfo, _Mapping]] = ..., caption: _Optional[_Union[FormattedText, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., duration_seconds: _Optional[int] = ..., gif_playback: _Optional[bool] = ...) -> None: ...

class AudioMessage(_message.Message):
    __slots__ = ("media", "duration_seconds", "voice_note", "waveform")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VOICE_NOTE_FIELD_NUMBER: _ClassVar[int]
    WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    media: MediaInfo
    duration_seconds: int
    voice_note: bool
    waveform: bytes
    def __init__(self, media: _Optional[_Union[MediaInfo, _Mapping]] = ..., duration_seconds: _Optional[int] = ..., voice_note: _Optional[bool] = ..., waveform: _Optional[bytes] = ...) -> None: ...

class DocumentMessage(_message.Message):
    __slots__ = ("media", "caption", "file_name", "page_count")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    media: MediaInfo
    caption: FormattedText
    file_name: str
    page_count: int
    def __init__(self, media: _Optional[_Union[MediaInfo, _Mapping]] = ..., caption: _Optional[_Union[FormattedText, _Mapping]] = ..., file_name: _Optional[str] = ..., page_count: _Optional[int] = ...) -> None: ...

class LocationMessage(_message.Message):
    __slots__ = ("latitude", "longitude", "name", "address")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    name: str
    address: str
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., name: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ContactMessage(_message.Message):
    __slots__ = ("display_name", "vcard")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    VCARD_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    vcard: str
    def __init__(self, display_name: _Optional[str] = ..., vcard: _Optional[str] = ...) -> None: ...

class StickerMessage(_message.Message):
    __slots__ = ("media", "width", "height", "animated")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ANIMATED_FIELD_NUMBER: _ClassVar[int]
    media: MediaInfo
    width: int
    height: int
    animated: bool
    def __init__(self, media: _Optional[_Union[MediaInfo, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., animated: _Optional[bool] = ...) -> None: ...

class ReactionMessage(_message.Message):
    __slots__ = ("target", "text", "timestamp_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    target: MessageKey
    text: str
    timestamp_ms: int
    def __init__(self, target: _Optional[_Union[MessageKey, _Mapping]] = ..., text: _Optional[str] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class EditMessage(_message.Message):
    __slots__ = ("target", "new_content", "timestamp_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    NEW_CONTENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    target: MessageKey
    new_content: Content
    timestamp_ms: int
    def __init__(self, target: _Optional[_Union[MessageKey, _Mapping]] = ..., new_content: _Optional[_Union[Content, _Mapping]] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class RevokeMessage(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: MessageKey
    def __init__(self, target: _Optional[_Union[MessageKey, _Mapping]] = ...) -> None: ...

class SenderKeyDistribution(_message.Message):
    __slots__ = ("group_id", "distribution_message")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    distribution_message: bytes
    def __init__(self, group_id: _Optional[str] = ..., distribution_message: _Optional[bytes] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("text", "image", "video", "audio", "document", "location", "contact", "sticker", "reaction", "edit", "revoke", "context", "sender_key_distribution")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    STICKER_FIELD_NUMBER: _ClassVar[int]
    REACTION_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    SENDER_KEY_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    text: TextMessage
    image: ImageMessage
    video: VideoMessage
    audio: AudioMessage
    document: DocumentMessage
    location: LocationMessage
    contact: ContactMessage
    sticker: StickerMessage
    reaction: ReactionMessage
    edit: EditMessage
    revoke: RevokeMessage
    context: ContextInfo
    sender_key_distribution: SenderKeyDistribution
    def __init__(self, text: _Optional[_Union[TextMessage, _Mapping]] = ..., image: _Optional[_Union[ImageMessage, _Mapping]] = ..., video: _Optional[_Union[VideoMessage, _Mapping]] = ..., audio: _Optional[_Union[AudioMessage, _Mapping]] = ..., document: _Optional[_Union[DocumentMessage, _Mapping]] = ..., location: _Optional[_Union[LocationMessage, _Mapping]] = ..., contact: _Optional[_Union[ContactMessage, _Mapping]] = ..., sticker: _Optional[_Union[StickerMessage, _Mapping]] = ..., reaction: _Optional[_Union[ReactionMessage, _Mapping]] = ..., edit: _Optional[_Union[EditMessage, _Mapping]] = ..., revoke: _Optional[_Union[RevokeMessage, _Mapping]] = ..., context: _Optional[_Union[ContextInfo, _Mapping]] = ..., sender_key_distribution: _Optional[_Union[SenderKeyDistribution, _Mapping]] = ...) -> None: ...
