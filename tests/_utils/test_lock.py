"""The cross-process file lock: exclusive, time-limited waits, released when its holder dies."""

import signal
import subprocess
import sys
import time

import pytest

from ghosthub._utils.lock import FileLock, LockTimeout
from tests.support.paths import REPO


def hold_in_child(path):
    code = (
        f"import time; from ghosthub._utils.lock import FileLock; FileLock({str(path)!r}).acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_exclusive_between_processes_and_freed_by_a_kill(tmp_path):
    path = tmp_path / "x.lock"
    child = hold_in_child(path)
    try:
        lock = FileLock(path)
        start = time.monotonic()
        with pytest.raises(LockTimeout, match="held by another process"):
            lock.acquire(timeout=0.3)
        assert 0.25 <= time.monotonic() - start < 5 and not lock.is_locked
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lock.acquire(timeout=5)  # the kernel released the dead holder's lock
    assert lock.is_locked
    lock.release()
    assert not lock.is_locked and path.exists()


def test_context_manager_and_reentry(tmp_path):
    path = tmp_path / "y.lock"
    with FileLock(path) as lock:
        assert lock.is_locked
        lock.acquire(timeout=0)  # already held by this object: no deadlock
    assert not lock.is_locked
    lock.release()  # releasing twice is harmless
    other = FileLock(path)
    other.acquire(timeout=0)
    other.release()
