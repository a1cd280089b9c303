"""Ctrl-C (KeyboardInterrupt) stops a long run soon, and the model stays usable."""

import _thread
import threading
import time

import pytest

import analogc
from conftest import MODEL


def test_keyboard_interrupt_stops_eval():
    model = analogc.load(MODEL)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.eval(trials=10000)  # hours of work
    assert time.monotonic() - started < 30
    timer.join()
    assert model.eval(trials=1, limit=50).clean_accuracy > 0.9
