"""One module per CLI subcommand; each exposes ``register(subparsers)``.

Command modules import heavy dependencies (OpenCV, TFLite, paho) inside their run
function so that ``microslip --help`` stays fast and works on any machine.
"""
