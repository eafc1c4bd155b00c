"""The daily trainer of learned (ML) behaviors in self-hosted mode, added by ``SelfHostedDetect`` when a
profile has ``Behavior.ml(...)`` behaviors (which need its window history).

Once a day an EventBridge schedule runs the function (``iot_defender_runtime.behavior_trainer``): one
Athena query per learned behavior over the history table, in the history's workgroup, and one model item
per behavior in the state table. ML Detect refreshes its models daily on the trailing 14 days
(https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html, "How ML Detect works").

Least privilege: the history's own query grant (its workgroup, its Glue database and table, its bucket's
rows and results prefixes, its key), and on the state table ``BatchGetItem`` and ``PutItem`` of the
items whose key starts with ``learned#`` only (``dynamodb:LeadingKeys``). One run at a time (reserved
concurrency 1); a failed run is retried twice, then dead-lettered; ``TrainingFailures`` alarms.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._jsii import as_function
from constructs_lib._metrics import MetricOptions, service_metric
from constructs_lib.alerts.alert_topic import AnyAlertTopic
from constructs_lib.detect.window_history import RESULTS_PREFIX, ROWS_PREFIX, WindowHistory
from constructs_lib.nag import acknowledge
from constructs_lib.response.queued_function import FunctionNetwork, alarm_on_any, build_function
from iot_defender_runtime.model.learned_model import MODEL_PREFIX

SERVICE = "behavior-trainer"
METRICS_NAMESPACE = "DeviceDefender/SelfHostedDetect"
DAILY = events.Schedule.cron(minute="20", hour="0")  # 00:20 UTC: yesterday's last windows have been delivered


class BehaviorTrainer(Construct):
    """The trainer function, its daily schedule and its failure alarm. ``function`` is the Lambda function."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        history: WindowHistory,
        table: dynamodb.ITable,
        profiles_document: str,
        dead_letter: sqs.IQueue,
        powertools_layer_version: int,
        notify: AnyAlertTopic | None = None,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, id)
        role, self.function = build_function(
            self,
            id="Function",
            function_package="behavior_trainer",
            description="Self-hosted ML Detect: trains learned behaviors' models on the window history daily",
            environment={
                "STATE_TABLE_NAME": table.table_name,
                "DETECT_PROFILES": profiles_document,
                "HISTORY_WORKGROUP": history.workgroup.ref,
                "HISTORY_DATABASE": history.database_name,
                "HISTORY_TABLE": history.table_name,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            dead_letter=dead_letter,
            powertools_layer_version=powertools_layer_version,
            memory_size=256,
            timeout=Duration.minutes(15),  # one Athena query per learned behavior, one after the other
            reserved_concurrency=1,
            network=network,
        )
        history.grant_query(role)
        self._grant_models(role, table)
        _acknowledge_wildcards(role, history)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Trains the learned behaviors' models on the trailing 14 days of the window history",
            schedule=DAILY,
            targets=[
                cast(
                    events.IRuleTarget,
                    event_targets.LambdaFunction(
                        as_function(self.function), dead_letter_queue=dead_letter, retry_attempts=2
                    ),
                )
            ],
        )
        self.failure_alarm = alarm_on_any(
            self,
            "TrainingFailuresAlarm",
            "A learned behavior could not be trained (Athena query failed); its model ages towards expiry",
            self.metric_training_failures(),
            notify=notify,
        )

    def metric_training_failures(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Learned behaviors a run could not train (their Athena query failed)."""
        return service_metric(METRICS_NAMESPACE, SERVICE, "TrainingFailures", options)

    def _grant_models(self, role: iam.Role, table: dynamodb.ITable) -> None:
        """Read and write the model items only (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html)."""
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:BatchGetItem", "dynamodb:PutItem"],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{MODEL_PREFIX}*"]}},
            )
        )


def _acknowledge_wildcards(role: iam.Role, history: WindowHistory) -> None:
    """Why each wildcard resource of the trainer's role is acceptable (cdk-nag AwsSolutions-IAM5)."""
    bucket = Stack.of(history.bucket).get_logical_id(cast(s3.CfnBucket, history.bucket.node.default_child))
    acknowledge(
        role,
        {
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; granted by "
                "aws-cdk-lib for active tracing."
            ),
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{ROWS_PREFIX}*]": (
                "Athena reads the history's Parquet objects under the rows prefix, named by day and by Firehose at "
                "delivery time; read-only, limited to that prefix of this bucket."
            ),
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{RESULTS_PREFIX}*]": (
                "Athena writes and reads each query's results under the results prefix, named by query id at run "
                "time; limited to that prefix of this bucket."
            ),
        },
    )
