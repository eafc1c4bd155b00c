"""Audit remediator: acts on the findings of completed Device Defender audits."""
