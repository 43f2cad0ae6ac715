"""How the dashboard is served: its entry script and the ``streamlit run`` command line for it."""

from __future__ import annotations

import sys
from pathlib import Path

from finsent.dashboard.access import is_loopback

__all__ = ["APP_PATH", "streamlit_command"]

APP_PATH = Path(__file__).resolve().parent / "app.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard on host:port."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # No source watching or rerun-on-save in a deployed dashboard.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer",
        # Tracebacks can carry SQL and paths: show them on loopback only.
        "--client.showErrorDetails", "full" if is_loopback(host) else "type",
        "--theme.base", "light",
    ]  # fmt: skip
