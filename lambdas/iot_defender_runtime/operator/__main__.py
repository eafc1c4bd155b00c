"""``python -m iot_defender_runtime.operator``: the ``iot-defender`` command without the script installed."""

import sys

from iot_defender_runtime.operator.cli import main

sys.exit(main())
