"""`Poll`: no pause once a resource ends, a quick one after progress, a timeout carrying the last seen."""

from __future__ import annotations

import pytest

from distillery.client import Backoff, WaitTimeout
from distillery.client.polling import Poll


def test_pauses_grow_while_nothing_moves_and_reset_on_progress() -> None:
    poll = Poll(None, Backoff(initial_s=1, factor=2, maximum_s=3))
    assert poll.delay("job", "running", 0) == 1  # the first poll counts as progress
    assert poll.delay("job", "running", 0) == 2
    assert poll.delay("job", "running", 0) == 3
    assert poll.delay("job", "running", 0) == 3
    assert poll.delay("job", "running", 5) == 1
    assert poll.delay("job", "succeeded", 5) is None


def test_past_the_deadline_it_raises_with_the_last_resource() -> None:
    poll = Poll(0)
    assert poll.delay("done", "cancelled", None) is None  # an ended resource returns even late
    with pytest.raises(WaitTimeout, match="still running after 0s") as timed_out:
        poll.delay("the job", "running", None)
    assert timed_out.value.last == "the job"
