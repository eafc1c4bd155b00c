"""Learned behaviors' models in the state table (item ``learned#<profile>#<behavior>``, see
``model.learned_model``): written by the daily trainer, read by the evaluator once per batch or sweep
and by the operator's ``iot-defender models status``.

A model item that cannot be read comes back as its ``CorruptModelError`` rather than raising, so one
corrupt item leaves that behavior unjudged and every other behavior judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.adapters.table_reads import get_items
from iot_defender_runtime.model.learned_model import MODEL_PREFIX, CorruptModelError, LearnedModel

_TO_ITEM, _FROM_ITEM = TypeSerializer(), TypeDeserializer()
ModelOrError = LearnedModel | CorruptModelError


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _FROM_ITEM.deserialize(value) for name, value in item.items()}


def _read(item: dict[str, Any]) -> ModelOrError:
    try:
        return LearnedModel.from_item(_plain(item))
    except CorruptModelError as error:
        return error


class LearnedModels:
    """The models of the state table ``table_name``."""

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or client("dynamodb")

    def get_many(self, keys: list[str]) -> dict[str, ModelOrError]:
        """The stored models by key (``model_key``); a key with no item is absent."""
        return {key: _read(item) for key, item in get_items(self._dynamodb, self._table, keys).items()}

    def put(self, model: LearnedModel) -> None:
        item = {name: _TO_ITEM.serialize(value) for name, value in model.to_item().items()}
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def scan(self) -> Iterator[ModelOrError]:
        """Every model item (for the status command), read with a filter on the key's prefix."""
        paginator = self._dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            FilterExpression="begins_with(id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": MODEL_PREFIX}},
        )
        for page in pages:
            yield from (_read(item) for item in page.get("Items", []))
