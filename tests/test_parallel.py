"""Work in forked worker processes (matcher.parallel): input order kept, light tasks stay home, errors surface."""
from __future__ import annotations

import os

import pytest

from matcher.parallel import can_fork, ordered_map

pytestmark = pytest.mark.skipif(not can_fork(), reason="no fork on this system: ordered_map runs in-process")


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_results_come_back_in_order_from_other_processes():
    out = list(ordered_map(_pid_and_square, range(40), workers=2))
    assert [sq for _, sq in out] == [x * x for x in range(40)]
    assert os.getpid() not in {pid for pid, _ in out}


def test_light_tasks_and_a_single_heavy_task_run_here():
    out = list(ordered_map(_pid_and_square, range(10), workers=2, light=lambda x: x != 5))
    assert [sq for _, sq in out] == [x * x for x in range(10)]
    assert {pid for pid, _ in out} == {os.getpid()}  # one heavy task: not worth a pool


def test_one_worker_runs_in_process():
    assert {pid for pid, _ in ordered_map(_pid_and_square, range(5), workers=1)} == {os.getpid()}


def test_worker_error_is_raised_after_the_results_before_it():
    got = []
    with pytest.raises(ValueError, match="three"):
        for x in ordered_map(_fail_on_three, range(10), workers=2):
            got.append(x)
    assert got == [0, 1, 2]
