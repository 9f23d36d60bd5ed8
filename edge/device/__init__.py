"""The device service: the fixed-rate loop (``service``) and its wiring from config
(``wiring``), the pipeline hand-off thread (``handoff``), the durable SQLite ``outbox``, the
MQTT ``publisher``, Home Assistant ``discovery``, systemd ``notify``, ``sysinfo`` and the
optional live page (``web``). ``protocols`` names what the service needs of its parts.
"""
