"""Every alarm the library creates notifies operators: each AWS::CloudWatch::Alarm of every stack of
app.py (each Detect mode) and of every example publishes to a notification topic."""

from __future__ import annotations

from tests.synth.templates import every_template, of_type, references


def test_every_alarm_of_every_stack_notifies_a_topic_of_its_stack(
    reference_assembly, compliance_assemblies, example_assemblies
):
    # Given every synthesized template, When its alarms are read, Then each has an alarm action that
    # is an SNS topic of the same template.
    checked = 0
    for where, template in every_template(reference_assembly, compliance_assemblies, example_assemblies):
        topics = set(of_type(template, "AWS::SNS::Topic"))
        for key, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
            actions = alarm["Properties"].get("AlarmActions", [])
            assert references(actions) & topics, f"{where}: {key} notifies nothing ({actions})"
            checked += 1
    assert checked >= 20


def test_device_defender_alarms_notify_its_notification_topic_in_every_detect_mode(
    reference_assembly, compliance_assemblies
):
    # Given DeviceDefender stacks (output NotifyTopicArn names the notification topic), Then every alarm,
    # self-hosted Detect's and the undelivered-notifications one included, notifies that topic.
    templates = [s.template for s in reference_assembly.stacks]
    templates += [s.template for a in compliance_assemblies.values() for s in a.stacks]
    for template in templates:
        [notify] = references(template["Outputs"]["NotifyTopicArn"]["Value"])
        alarms = of_type(template, "AWS::CloudWatch::Alarm")
        assert any("UndeliveredNotificationsAlarm" in key for key in alarms)
        for key, alarm in alarms.items():
            assert references(alarm["Properties"]["AlarmActions"]) == {notify}, key
    self_hosted = compliance_assemblies["self-hosted"].stacks[0].template
    detect_alarms = [k for k in of_type(self_hosted, "AWS::CloudWatch::Alarm") if "SelfHostedDetect" in k]
    assert len(detect_alarms) == 2  # dead-letter queue and errors, checked above
