"""The evaluator's Powertools Logger, Tracer and Metrics: one of each per process, shared by its modules."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "detect-evaluator"
NAMESPACE = "DeviceDefender/SelfHostedDetect"


logger = Logger(service=SERVICE)


tracer = Tracer(service=SERVICE)


metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
