"""Hypothesis strategies for every content model."""

from __future__ import annotations

from hypothesis import strategies as st

from bridge.content import (
    Address,
    Audio,
    ChatId,
    Contact,
    Document,
    Edit,
    Image,
    Location,
    MediaRef,
    MessageKey,
    Reaction,
    ReplyTo,
    Revoke,
    SenderKeyDistribution,
    StanzaId,
    Sticker,
    Text,
    Video,
)

# proto3 strings are UTF-8: lone surrogates cannot be sent.
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
nonempty = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)
uint32 = st.integers(min_value=0, max_value=2**32 - 1)
timestamps = st.integers(min_value=0, max_value=2**63 - 1)
ids = nonempty.map(Address)
mentions = st.lists(ids, max_size=4).map(tuple)

reply_tos = st.none() | st.builds(
    ReplyTo,
    stanza_id=nonempty.map(StanzaId),
    participant=st.none() | ids,
    quoted_preview=texts,
)

media_refs = st.builds(
    MediaRef,
    path=nonempty,
    media_key=st.binary(min_size=32, max_size=32),
    sha256_plain=st.binary(min_size=32, max_size=32),
    sha256_enc=st.binary(min_size=32, max_size=32),
    length=st.integers(min_value=0, max_value=2**64 - 1),
    mime_type=texts,
    thumbnail=st.binary(max_size=64),
)

message_keys = st.builds(
    MessageKey,
    chat_id=texts.map(ChatId),
    id=nonempty.map(StanzaId),
    from_me=st.booleans(),
    participant=st.none() | ids,
)

text_models = st.builds(Text, text=texts, mentions=mentions, reply_to=reply_tos)
image_models = st.builds(
    Image, media=media_refs, caption=texts, mentions=mentions, width=uint32, height=uint32,
    reply_to=reply_tos,
)
video_models = st.builds(
    Video, media=media_refs, caption=texts, mentions=mentions, width=uint32, height=uint32,
    duration_seconds=uint32, gif_playback=st.booleans(), reply_to=reply_tos,
)
audio_models = st.builds(
    Audio, media=media_refs, duration_seconds=uint32, voice_note=st.booleans(),
    waveform=st.lists(st.integers(0, 100), max_size=64).map(bytes), reply_to=reply_tos,
)
document_models = st.builds(
    Document, media=media_refs, file_name=texts, page_count=uint32, caption=texts,
    mentions=mentions, reply_to=reply_tos,
)
location_models = st.builds(
    Location,
    latitude=st.floats(min_value=-90, max_value=90, allow_nan=False),
    longitude=st.floats(min_value=-180, max_value=180, allow_nan=False),
    name=texts, address=texts, reply_to=reply_tos,
)
contact_models = st.builds(Contact, display_name=texts, vcard=nonempty, reply_to=reply_tos)
sticker_models = st.builds(
    Sticker, media=media_refs, width=uint32, height=uint32, animated=st.booleans(),
    reply_to=reply_tos,
)
reaction_models = st.builds(Reaction, target=message_keys, text=texts, timestamp_ms=timestamps)
edit_models = st.builds(
    Edit,
    target=message_keys,
    new_content=text_models | image_models | video_models | document_models,
    timestamp_ms=timestamps,
)
revoke_models = st.builds(Revoke, target=message_keys)
sender_keys = st.builds(
    SenderKeyDistribution,
    group_id=nonempty.map(ChatId),
    distribution_message=st.binary(min_size=1, max_size=200),
)

body_models = st.one_of(
    text_models, image_models, video_models, audio_models, document_models, location_models,
    contact_models, sticker_models, reaction_models, edit_models, revoke_models,
)
