"""microslip: spot micro-expressions (emotion slips) on the edge and publish them over MQTT."""

__version__ = "0.1.0"
