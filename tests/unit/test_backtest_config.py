"""The run file's venue table and the matching engine's switches stay in step."""

from __future__ import annotations

from toolkit.backtest.config import VenueConfig
from toolkit.backtest.matching import MatchingConfig
from toolkit.backtest.runner import _matching, parse_time_ns
from toolkit.model.objects import Money


def test_venue_table_offers_every_matching_switch_with_the_same_default() -> None:
    venue = VenueConfig(starting_balances=[Money.of(1, "USD")])
    defaults = MatchingConfig()
    for name in MatchingConfig.__struct_fields__:
        assert getattr(venue, name) == getattr(defaults, name), name
    assert _matching(venue) == defaults


def test_venue_switches_reach_the_matching_config() -> None:
    venue = VenueConfig(
        starting_balances=[Money.of(1, "USD")], bar_adaptive_high_low_ordering=True, use_reduce_only=False
    )
    matching = _matching(venue)
    assert matching.bar_adaptive_high_low_ordering is True and matching.use_reduce_only is False


def test_period_bounds_parse_dates_datetimes_and_ns() -> None:
    assert parse_time_ns("2012-02-01", "f", "x") == 1_328_054_400_000_000_000
    assert parse_time_ns("2012-02-01T00:00:01Z", "f", "x") == 1_328_054_401_000_000_000
    assert parse_time_ns("2012-02-01T01:00:00+01:00", "f", "x") == 1_328_054_400_000_000_000
    assert parse_time_ns(5, "f", "x") == 5
    assert parse_time_ns(None, "f", "x") is None
