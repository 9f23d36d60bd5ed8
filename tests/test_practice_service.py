"""The service keeps its own slips for practice ([practice] config, a real service loop)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_config
from edge.device.outbox import Outbox
from edge.device.service import Service
from edge.events import EMOTIONS
from edge.practice import SlipLibrary, Store
from tests.fake_device import SlipEveryFrame, Step, TickSource
from tests.test_practice_deck import _motion
from tests.web_support import wait_for


class _SlipsWithMotion(SlipEveryFrame):
    """The fake device's processor, its slips carrying motion as the pipeline attaches it."""

    def _step(self, index: int, t_ns: int) -> Step:
        step = super()._step(index, t_ns)
        events = [dataclasses.replace(e, motion=_motion()) for e in step.events]
        return Step(step.face_frame, events, step.stage_times)


def test_the_service_keeps_its_slips_for_practice(tmp_path: Path) -> None:
    from edge.device.wiring import start_library

    cfg = parse_config(
        {"device": {"id": "libdev"}, "camera": {"source": "synthetic", "fps": 100},
         "state": {"dir": str(tmp_path / "state")}, "events": {"include_motion": True},
         "practice": {"library_max": 12}},
        env={},
    )  # fmt: skip
    box = Outbox(tmp_path / "o.db")
    proc = _SlipsWithMotion(20, device="libdev")
    svc = Service(cfg, proc, lambda: TickSource(100, 60), box, None)
    lib = start_library(cfg, svc)
    assert isinstance(lib, SlipLibrary)
    svc.run()
    assert wait_for(lambda: lib.saved == 20, timeout=10)
    lib.close()
    store = Store(tmp_path / "state" / "practice.db")
    assert store.library_count() == 12  # bounded
    assert {e for _, e in store.library_index()} <= set(EMOTIONS)
    store.close()
    box.close()
    off = dataclasses.replace(cfg, events=dataclasses.replace(cfg.events, include_motion=False))
    assert start_library(off, svc) is None  # no motion, no library, no thread


@pytest.mark.parametrize(
    ("section", "message"),
    [({"library_max": -1}, "practice.library_max"), ({"library_days": 0}, "practice.library_days"),
     ({"keep": 3}, "practice.keep")],
)  # fmt: skip
def test_practice_config_is_validated(section: dict[str, Any], message: str) -> None:
    from edge.config import parse_config
    from edge.errors import ConfigError

    cfg = parse_config({"device": {"id": "d"}, "practice": {"library_max": 0}}, env={})
    assert cfg.practice.library_max == 0
    with pytest.raises(ConfigError, match=message):
        parse_config({"device": {"id": "d"}, "practice": section}, env={})


def test_the_live_page_serves_practice_beside_it(tmp_path: Path) -> None:
    import http.client
    import json

    from edge.device.wiring import start_web

    cfg = parse_config(
        {"device": {"id": "webdev"}, "camera": {"source": "synthetic", "fps": 100},
         "state": {"dir": str(tmp_path / "state")}, "web": {"enabled": True, "port": 0}},
        env={},
    )  # fmt: skip
    box = Outbox(tmp_path / "o.db")
    svc = Service(cfg, SlipEveryFrame(0), lambda: TickSource(100, 10), box, None)
    web = start_web(cfg, svc)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        for path in ("/", "/practice"):
            conn.request("GET", path)
            r = conn.getresponse()
            assert r.status == 200 and b"microslip" in r.read()
        conn.request("GET", "/api/practice/next?person=dev")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["deck"] == "builtin"
        conn.close()
    finally:
        web.stop()
        box.close()
    assert (tmp_path / "state" / "practice.db").is_file()
