"""The practice trainer: rounds of neutral motion with one slip, feedback, progress per person.

``PracticeAPI`` (JSON API and the page, served by ``edge.device.web`` or ``microslip
practice``), ``Store`` (answers and the device's slips library, SQLite in the state dir) and
``SlipLibrary`` (the service listener that keeps slips carrying motion).
"""

from edge.practice.api import PracticeAPI, Reply
from edge.practice.library import SlipLibrary
from edge.practice.store import Store

__all__ = ["PracticeAPI", "Reply", "SlipLibrary", "Store"]
