"""The operators' command, ``iot-defender`` (``python -m iot_defender_runtime.operator``): what is in
quarantine and why, releases, both breakers, a thing's action log and self-hosted Detect's violations,
read from a stack's outputs (``--stack``) or from flags and environment variables.

A layer beside the function packages: it uses ``remediation`` and ``adapters`` (and ``model``),
never a function package, and no function asset ships it.
"""
