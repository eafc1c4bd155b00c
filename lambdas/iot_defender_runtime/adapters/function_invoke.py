"""Asynchronous invocation of a Lambda function (the sweep's coordinator invoking its own segments).

``Invoke`` with ``InvocationType=Event``: Lambda queues the event and returns 202; a failed run is
retried by Lambda (the function's asynchronous retry settings) and then sent to its dead-letter queue
(Lambda developer guide, "Invoking a Lambda function asynchronously":
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
"""

from __future__ import annotations

import json
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client


class AsyncInvoker:
    def __init__(self, function: str, lambda_client: Any | None = None) -> None:
        self._function = function
        self._lambda = lambda_client or client("lambda")

    def __call__(self, payload: dict[str, Any]) -> None:
        self._lambda.invoke(
            FunctionName=self._function,
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
