"""The sandbox's built-in controllers (placeholder)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitops.sandbox.server import App


class Controller:
    def __init__(self, app: App, delay: float = 0.2) -> None:
        self.app = app
        self.delay = delay
        self._stop = threading.Event()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()
