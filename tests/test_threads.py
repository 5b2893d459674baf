"""The thread policy is applied before torch starts, and says so when it cannot be."""

import os
import subprocess
import sys


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_passive_wait_set_before_torch():
    proc = run("import os, graphfuse, torch; print(os.environ['OMP_WAIT_POLICY'])")
    assert proc.stdout.strip() == "PASSIVE"
    assert "cannot take effect" not in proc.stderr


def test_user_choice_is_kept():
    proc = run(
        "import os, graphfuse; print(os.environ['OMP_WAIT_POLICY'])", OMP_WAIT_POLICY="ACTIVE"
    )
    assert proc.stdout.strip() == "ACTIVE"


def test_warns_when_torch_came_first():
    proc = run("import torch, graphfuse")
    assert proc.returncode == 0
    assert "torch was imported before graphfuse" in proc.stderr


def test_auto_threads_and_restore():
    import torch

    from graphfuse._threads import SINGLE_THREAD_BELOW, auto_threads, torch_threads

    assert auto_threads(SINGLE_THREAD_BELOW - 1) == 1
    assert auto_threads(SINGLE_THREAD_BELOW) is None
    assert auto_threads(10, requested=3) == 3
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
