"""Encoding refuses values the wire cannot carry, with `EncodeError`."""

import math

import pytest

import trading
from trading import EncodeError
from test_hostile import new_order, telemetry


def test_round_trip_of_a_message_using_every_type() -> None:
    msg = telemetry()
    assert trading.Telemetry.decode(msg.encode()) == msg
    frame, used = trading.decode_frame(msg.encode_frame(seq=5, ts_ns=6, flags=1))
    assert (frame.seq, frame.ts_ns, frame.flags, frame.type_id) == (5, 6, 1, 901)
    assert frame.message == msg
    assert used == len(msg.encode_frame(seq=5, ts_ns=6, flags=1))


def test_optional_fields_default_to_absent() -> None:
    msg = trading.OrderAck(client_order_id=1, venue_order_id="v", ts_ns=2)
    assert msg.venue_ts_ns is None
    assert trading.OrderAck.decode(msg.encode()) == msg


def test_f32_rounds_and_special_values_survive() -> None:
    msg = telemetry()
    for value in (math.inf, -math.inf, -0.0, 1e-45):
        msg.cpu_pct = value
        got = trading.Telemetry.decode(msg.encode()).cpu_pct
        assert math.copysign(1, got) == math.copysign(1, value)
        assert got == value or (value == 1e-45 and got > 0)
    msg.cpu_pct = math.nan
    assert math.isnan(trading.Telemetry.decode(msg.encode()).cpu_pct)


@pytest.mark.parametrize(
    "field, value",
    [
        ("core_id", 256),
        ("core_id", -1),
        ("restarts", 1 << 16),
        ("queue_depth", -1),
        ("temperature_delta", 128),
        ("skew_us", -(1 << 15) - 1),
        ("drift_ns", 1 << 31),
        ("pnl_cents", 1 << 63),
        ("ts_ns", 1 << 64),
        ("core_id", True),
        ("up", 1),
        ("cpu_pct", 1e39),
        ("cpu_pct", "1.0"),
        ("service", b"bytes"),
        ("service", "\ud800"),
        ("blob", "text"),
        ("health", 7),
        ("latency_hist", [1] * 7),
        ("latency_hist", [1] * 9),
        ("labels", ["x"] * 17),
        ("fee_grid", [None, None]),
        ("counters", None),
        ("instrument", trading.Counter(name="n", value=1, delta=1)),
        ("matrix", [[1 << 31]]),
        ("peers", [[256, 0, 0, 0]]),
    ],
)
def test_values_the_wire_cannot_carry_are_refused(field: str, value: object) -> None:
    msg = telemetry()
    setattr(msg, field, value)
    with pytest.raises(EncodeError):
        msg.encode()


def test_enum_accepts_members_and_their_int_values() -> None:
    order = new_order()
    order.side = 2
    assert trading.NewOrder.decode(order.encode()).side is trading.Side.Sell


def test_frame_header_fields_are_range_checked() -> None:
    for kwargs in ({"seq": -1}, {"ts_ns": 1 << 64}, {"flags": 256}):
        with pytest.raises(EncodeError):
            new_order().encode_frame(**kwargs)


def test_schema_constants() -> None:
    assert trading.PACKAGE == "trading"
    assert len(trading.SCHEMA_DIGEST) == 64
    assert trading.Quote.TYPE_ID == 100 and trading.Quote.TOPIC == "md.quote"
    assert trading.REGISTRY[900] is trading.Heartbeat
