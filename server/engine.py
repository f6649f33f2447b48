"""The daemon's heavy state: the encoder and the open indexes, ready once the model is loaded."""

import logging
import os
import threading
import time

from ltlsp.server.errors import Unavailable
from ltlsp.server.paths import data_dir
from ltlsp.server.repos import Repos

log = logging.getLogger("ltlsp.daemon")


class Engine:
    def __init__(self):
        self.encoder = None
        self.repos: Repos | None = None
        self.load_error: str = ""
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def model_id(self) -> str:
        return self.encoder.model_id if self.ready else ""

    def load(self) -> None:
        """Import torch and load the encoder (seconds); `LTLSP_MODEL` names another model dir."""
        started = time.monotonic()
        try:
            import torch
            from ltlsp.model import Encoder

            torch.set_num_threads(int(os.environ.get("LTLSP_THREADS", min(4, os.cpu_count() or 1))))
            self.encoder = Encoder.load(os.environ.get("LTLSP_MODEL") or None)
        except Exception as err:  # noqa: BLE001 - reported to every client, see require()
            log.exception("could not load the encoder")
            self.load_error = f"the daemon could not load its model: {err}"
            raise
        self.repos = Repos(data_dir(), self.encoder.model_id, self.encoder.dim)
        self._ready.set()
        log.info("model %s loaded in %.1f s", self.encoder.model_id, time.monotonic() - started)

    def require(self) -> tuple:
        """(encoder, repos), or UNAVAILABLE while the model is still loading."""
        if not self.ready:
            raise Unavailable(self.load_error or "the daemon is still loading its model; try again in a moment")
        return self.encoder, self.repos
