import json
import os
import stat
from pathlib import Path

from shared import runstate


def test_the_state_is_written_for_its_user_only_and_read_back(tmp_path: Path) -> None:
    state = runstate.RunState(
        database_url="postgresql://u@127.0.0.1:5999/tthc",
        kafka_bootstrap_servers="127.0.0.1:9999",
        services={"registry": "http://127.0.0.1:8001"},
        admin_token="t" * 32,
        pid=os.getpid(),
    )
    path = runstate.write(state, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert runstate.load(tmp_path) == state


def test_a_state_left_by_a_process_that_is_gone_is_ignored(tmp_path: Path) -> None:
    (tmp_path / runstate.FILE_NAME).write_text(
        json.dumps({"database_url": "x", "kafka_bootstrap_servers": "y", "pid": 2**22 + 12345})
    )
    assert runstate.load(tmp_path) is None


def test_no_file_or_a_broken_file_means_no_running_system(tmp_path: Path) -> None:
    assert runstate.load(tmp_path) is None
    (tmp_path / runstate.FILE_NAME).write_text("{not json")
    assert runstate.load(tmp_path) is None
