"""Device Defender behavior semantics as pure functions: datapoints and state in, state and alarm
transitions out. No I/O, no clock reads, no environment: the caller passes ``now``."""
