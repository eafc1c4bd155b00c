"""Publishing structured notifications to the operators' SNS topic."""

from __future__ import annotations

import json
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client

_SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Notifier:
    def __init__(self, topic_arn: str, sns: Any | None = None) -> None:
        self._topic_arn = topic_arn
        self._sns = sns or client("sns")

    def publish(self, subject: str, message: dict[str, Any]) -> str:
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=_printable(subject)[:_SUBJECT_LIMIT],
            Message=json.dumps(message, sort_keys=True, default=str),
        )
        return str(response["MessageId"])


def _printable(text: str) -> str:
    """SNS subjects must be ASCII printable, without line breaks."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
