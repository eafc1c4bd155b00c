"""Typed views of aws-cdk classes as the jsii interfaces they implement.

In the Python that jsii generates, some classes name a method's parameters differently from their
interface (``ServicePrincipal.add_to_principal_policy(_statement)`` against
``IPrincipal.add_to_principal_policy(statement)``, ``Role.grant_pass_role(identity)`` against
``IRole.grant_pass_role(grantee)``). Pyright then reports that the class does not implement the
protocol (aws/jsii-compiler#1320, aws/aws-cdk#31454, aws/aws-cdk#21099); at run time jsii passes
them positionally and they are what the interface says. Each helper states the interface once, with
``typing.cast``, instead of silencing the checker where the value is used.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns


def service_principal(service: str) -> iam.IPrincipal:
    """``iam.ServicePrincipal(service)`` as the ``IPrincipal`` that ``assumed_by`` and ``principals`` take."""
    return cast(iam.IPrincipal, iam.ServicePrincipal(service))


def as_role(role: iam.Role) -> iam.IRole:
    return cast(iam.IRole, role)


def as_function(function: lambda_.Function) -> lambda_.IFunction:
    return cast(lambda_.IFunction, function)


def as_topic(topic: sns.ITopic | sns.Topic) -> sns.ITopic:
    return cast(sns.ITopic, topic)


def sns_alarm_action(topic: sns.ITopic | sns.Topic) -> cloudwatch.IAlarmAction:
    """An alarm action that publishes to ``topic``."""
    return cast(cloudwatch.IAlarmAction, cloudwatch_actions.SnsAction(as_topic(topic)))


__all__ = ["as_function", "as_role", "as_topic", "service_principal", "sns_alarm_action"]
