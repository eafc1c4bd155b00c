"""A fake of ``ListMetricValues`` (no moto support: moto implements no Device Defender API), on a real
boto3 ``iot`` client through botocore's Stubber: each page's request is what the code must send
(checked against the ``iot`` model's ``ListMetricValuesRequest``, limits and patterns included), and
each response is checked by the Stubber against ``ListMetricValuesResponse``.

Pages are served in the order the calls are expected; ``serve`` queues one series (a thing, a metric,
a dimension) split into pages of ``page_size`` values with ``nextToken`` between them, as the API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from tests.lambdas.api_shapes import api_shape, problems


class FakeMetricValues:
    def __init__(self, region: str = "us-east-1") -> None:
        self.client = boto3.client(
            "iot", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.stub = Stubber(self.client)
        self.requests: list[dict[str, Any]] = []

    def serve(
        self,
        thing: str,
        metric: str,
        values: Sequence[tuple[float, dict[str, Any]]],
        *,
        start: datetime,
        end: datetime,
        page_size: int = 250,
        max_results: int = 250,
        dimension: tuple[str, str] | None = None,
    ) -> None:
        """Queue the pages of one series: ``values`` as (epoch seconds, ``MetricValue``), ``page_size`` a page."""
        pages = [values[i : i + page_size] for i in range(0, len(values), page_size)] or [[]]
        for index, page in enumerate(pages):
            request: dict[str, Any] = {
                "thingName": thing,
                "metricName": metric,
                "startTime": start,
                "endTime": end,
                "maxResults": max_results,
            }
            if dimension is not None:
                request["dimensionName"], request["dimensionValueOperator"] = dimension
            if index:
                request["nextToken"] = f"{thing}/{metric}/{index}"
            assert problems(request, api_shape("ListMetricValuesRequest")) == []
            response: dict[str, Any] = {
                "metricDatumList": [
                    {"timestamp": datetime.fromtimestamp(at, UTC), "value": value} for at, value in page
                ]
            }
            if index + 1 < len(pages):
                response["nextToken"] = f"{thing}/{metric}/{index + 1}"
            self.requests.append(request)
            self.stub.add_response("list_metric_values", response, request)

    def __enter__(self) -> FakeMetricValues:
        self.stub.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stub.deactivate()
