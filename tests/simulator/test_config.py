"""The simulator's configuration refuses settings no teacher could have."""

from __future__ import annotations

import pytest

from distillery_simulator.config import SimulatorConfig


def test_config_rejects_rates_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        SimulatorConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="rpm"):
        SimulatorConfig(rpm=0)
