"""Runs ``python main.py`` (the GUI) and exits at the main window's first show event.

Used by benchmarks/gui.py: it prints ``SHOWN <unix time>`` at that moment, so the parent can
measure spawn → window shown. Nothing in the product is changed: the hook is a patched
showEvent in this process only.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import vae_gui.app as app  # main.py's GUI path imports this module anyway

    original = app.MainWindow.showEvent

    def show_event(self, event):
        original(self, event)
        print(f"SHOWN {time.time():.6f}", flush=True)
        os._exit(0)  # no teardown: worker threads (data loading) may still be starting

    app.MainWindow.showEvent = show_event
    import main as entry

    sys.argv = [str(ROOT / "main.py")]
    entry.main([])


if __name__ == "__main__":
    main()
