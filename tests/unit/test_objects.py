"""Exact values compare by value: == and != agree, across precisions, and with hashing."""

from __future__ import annotations

from toolkit.model.objects import Money, Price, Quantity


def test_equality_and_inequality_agree() -> None:
    one, also_one = Quantity.from_int(1), Quantity.from_int(1)
    assert one == also_one
    assert (one != also_one) is False  # msgspec.Struct's own __ne__ must not win over ours
    assert Price.from_str("1.0") == Price.from_str("1.00")
    assert (Price.from_str("1.0") != Price.from_str("1.00")) is False
    assert Price.from_str("1.0") != Price.from_str("1.01")
    assert (Money.of(1, "USD") != Money.of(1, "USD")) is False
    assert Money.of(1, "USD") != Money.of(1, "EUR") and Money.of(1, "USD") != Money.of(2, "USD")
    assert hash(Price.from_str("1.0")) == hash(Price.from_str("1.00"))
    assert len({Price.from_str("1.0"), Price.from_str("1.00")}) == 1
