"""``python -m detect_lab``: the ``iot-defender-lab`` command (``detect_lab.cli``)."""

from detect_lab.cli import main

raise SystemExit(main())
