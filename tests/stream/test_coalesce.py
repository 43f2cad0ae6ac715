"""The gate between the worker's takes and the model: idle model, small batches at once; busy model, full batches."""

from __future__ import annotations

from finsent.stream.coalesce import Coalescer


def test_an_idle_model_gets_what_has_arrived_at_once() -> None:
    gate: Coalescer[int] = Coalescer(max_batch=100)
    gate.add([1, 2, 3])
    assert gate.ready(scoring=0, in_flight=0)
    assert gate.take() == [1, 2, 3]
    assert not gate.ready(scoring=0, in_flight=0)  # nothing left


def test_while_the_model_is_busy_arrivals_gather_into_one_batch() -> None:
    gate: Coalescer[int] = Coalescer(max_batch=10)
    for start in range(0, 8, 2):  # four short polls while a batch is being scored
        gate.add([start, start + 1])
        assert not gate.ready(scoring=1, in_flight=1)
    assert gate.ready(scoring=0, in_flight=1)  # scored: the model is free, the write still runs
    assert gate.take() == list(range(8))


def test_a_full_batch_goes_behind_a_busy_model_but_never_past_the_in_flight_bound() -> None:
    gate: Coalescer[int] = Coalescer(max_batch=4, max_in_flight=2)
    gate.add(list(range(6)))
    assert gate.full()
    assert gate.ready(scoring=1, in_flight=1)  # queued behind the model, as a full batch
    assert gate.take() == [0, 1, 2, 3]  # at most max_batch, oldest first
    assert gate.pending == [4, 5]
    assert not gate.ready(scoring=0, in_flight=2)  # two handed over and unwritten: wait
    assert gate.ready(scoring=0, in_flight=1)


def test_the_first_batch_after_a_start_can_be_cut_short() -> None:
    gate: Coalescer[int] = Coalescer(max_batch=1024)
    gate.add(list(range(100)))
    assert gate.take(32) == list(range(32))
    assert gate.take() == list(range(32, 100))
