"""Fixtures: the two mappers wired to in-memory storage and transport, sharing them
so that what one side hosts or uploads, the other can fetch."""

from __future__ import annotations

import pytest

from bridge.mapping import GatewayToMatrix, MatrixToGateway
from tests.formatting import resolvers

from .fakes import InMemoryGatewayMedia, InMemoryMatrixMedia, InMemoryMessageIds


@pytest.fixture
def matrix_media() -> InMemoryMatrixMedia:
    return InMemoryMatrixMedia()


@pytest.fixture
def gateway_media() -> InMemoryGatewayMedia:
    return InMemoryGatewayMedia()


@pytest.fixture
def message_ids() -> InMemoryMessageIds:
    return InMemoryMessageIds()


@pytest.fixture
def to_gateway(matrix_media, gateway_media, message_ids) -> MatrixToGateway:
    return MatrixToGateway(
        matrix_media=matrix_media,
        gateway_media=gateway_media,
        message_ids=message_ids,
        resolve_mention=resolvers.to_remote_async,
    )


@pytest.fixture
def to_matrix(matrix_media, gateway_media, message_ids) -> GatewayToMatrix:
    return GatewayToMatrix(
        matrix_media=matrix_media,
        gateway_media=gateway_media,
        message_ids=message_ids,
        resolve_mention=resolvers.to_matrix,
    )
