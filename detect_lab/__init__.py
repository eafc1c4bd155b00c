"""Detect lab: simulate a fleet, replay it through the self-hosted Detect evaluator, tune thresholds.

Subpackages are imported on demand (``detect_lab.simulator``, ...); nothing heavy is imported here."""
