"""Quarantine responder: turns Device Defender violations into registry actions and notifications."""
