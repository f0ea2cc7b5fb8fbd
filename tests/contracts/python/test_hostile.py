"""Malformed and hostile input: the decoder raises `DecodeError` with the right kind, and
nothing else, whatever the bytes."""

import random
import struct

import pytest

import trading
from trading import DecodeError

KEY = struct.Struct("<H")
U32 = struct.Struct("<I")
HEADER = struct.Struct("<4sBBHIQQI")


def key(tag: int, wire: int) -> bytes:
    return KEY.pack((tag << 3) | wire)


def split_fields(body: bytes) -> list[tuple[int, int, bytes]]:
    """(tag, wire type, value bytes) of each field of a well-formed body."""
    out = []
    pos = 0
    while pos < len(body):
        k = KEY.unpack_from(body, pos)[0]
        pos += 2
        wire = k & 7
        if wire == 4:
            size = 4 + U32.unpack_from(body, pos)[0]
        else:
            size = (1, 2, 4, 8)[wire]
        out.append((k >> 3, wire, body[pos : pos + size]))
        pos += size
    return out


def join_fields(fields: list[tuple[int, int, bytes]]) -> bytes:
    return b"".join(key(tag, wire) + value for tag, wire, value in fields)


def replace_field(body: bytes, tag: int, value: bytes) -> bytes:
    return join_fields([(t, w, value if t == tag else v) for t, w, v in split_fields(body)])


def len_value(payload: bytes) -> bytes:
    return U32.pack(len(payload)) + payload


def frame(type_id: int, body: bytes, *, magic: bytes = b"MYCL", version: int = 1) -> bytes:
    return HEADER.pack(magic, version, 0, type_id, len(body), 0, 0, 0) + body


def fee(code: bytes, amount: float) -> trading.Fee:
    return trading.Fee(currency=list(code), amount=amount)


def telemetry() -> trading.Telemetry:
    return trading.Telemetry(
        ts_ns=1,
        service="risk",
        health=trading.Health.Degraded,
        up=True,
        cpu_pct=12.5,
        core_id=3,
        restarts=2,
        queue_depth=70000,
        temperature_delta=-4,
        skew_us=-300,
        drift_ns=-70000,
        pnl_cents=-(1 << 40),
        latency_hist=[1, 2, 3, 4, 5, 6, 7, 8],
        counters=[trading.Counter(name="orders", value=10, delta=-1)],
        labels=["a", "b"],
        blob=b"\x00\xff",
        samples=[0.5, -0.25],
        peers=[[10, 0, 0, 1]],
        flags=[True, False],
        sides=[trading.Side.Buy],
        chunks=[b"x", b""],
        matrix=[[1, -2], []],
        instrument=trading.Instrument(id=7, symbol="BTC-USD", venue="X", tick_size=0.01),
        fee_grid=[fee(b"USD", 0.1), fee(b"EUR", 0.2)],
    )


def new_order() -> trading.NewOrder:
    return trading.NewOrder(
        client_order_id=42,
        instrument=7,
        side=trading.Side.Sell,
        order_type=trading.OrderType.Limit,
        tif=trading.TimeInForce.Gtc,
        price=100.5,
        qty=3.0,
        account="acct",
        post_only=False,
        strategy_tag=[1, 2, 3, 4, 5, 6, 7, 8],
        ts_ns=99,
    )


def decode_kind(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        trading.decode_frame(data)
    return info.value.kind


def body_kind(cls: type, body: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        cls.decode(body)
    return info.value.kind


# Frame header checks, in the order docs/wire.md gives them.


def test_every_truncation_of_every_golden_frame_is_truncated(golden_frames: bytes) -> None:
    pos = 0
    while pos < len(golden_frames):
        _, used = trading.decode_frame(golden_frames[pos:])
        whole = golden_frames[pos : pos + used]
        for cut in range(used):
            assert decode_kind(whole[:cut]) == "Truncated"
        pos += used


def test_bad_magic() -> None:
    assert decode_kind(frame(201, b"", magic=b"MYCX")) == "BadMagic"


def test_unsupported_version() -> None:
    assert decode_kind(frame(201, b"", version=2)) == "UnsupportedVersion"


def test_oversize_body_len_is_refused_before_reading_the_body() -> None:
    header = HEADER.pack(b"MYCL", 1, 0, 201, 0xFFFFFFFF, 0, 0, 0)
    assert decode_kind(header) == "FrameTooLarge"
    body = trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3).encode()
    with pytest.raises(DecodeError) as info:
        trading.decode_frame(frame(201, body), max_frame_size=len(body) - 1)
    assert info.value.kind == "FrameTooLarge"


def test_body_len_beyond_the_buffer_is_truncated() -> None:
    header = HEADER.pack(b"MYCL", 1, 0, 201, 1000, 0, 0, 0)
    assert decode_kind(header + b"\0" * 10) == "Truncated"


def test_unknown_type_id() -> None:
    assert decode_kind(frame(7, b"")) == "UnknownType"


def test_reserved_header_bits_are_ignored() -> None:
    body = trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3).encode()
    data = bytearray(frame(201, body))
    data[5] = 0xFF
    data[28:32] = b"\xde\xad\xbe\xef"
    got, used = trading.decode_frame(bytes(data))
    assert used == len(data)
    assert got.flags == 0xFF
    assert got.message == trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3)


# Body checks.


def cancel_body() -> bytes:
    return trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3).encode()


def test_duplicate_tag() -> None:
    body = cancel_body() + key(2, 2) + U32.pack(5)
    assert body_kind(trading.CancelOrder, body) == "DuplicateField"


def test_missing_required_field() -> None:
    fields = [f for f in split_fields(cancel_body()) if f[0] != 3]
    assert body_kind(trading.CancelOrder, join_fields(fields)) == "MissingField"


def test_fields_in_any_order_decode() -> None:
    fields = list(reversed(split_fields(cancel_body())))
    got = trading.CancelOrder.decode(join_fields(fields))
    assert got == trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3)


def test_unknown_tags_of_every_wire_type_are_skipped() -> None:
    extra = (
        key(100, 0) + b"\x01"
        + key(101, 1) + b"\x01\x02"
        + key(102, 2) + b"\x01\x02\x03\x04"
        + key(103, 3) + b"\x01" * 8
        + key(104, 4) + len_value(b"anything")
    )
    got = trading.CancelOrder.decode(extra + cancel_body())
    assert got == trading.CancelOrder(client_order_id=1, instrument=2, ts_ns=3)


@pytest.mark.parametrize("wire", [5, 6, 7])
def test_reserved_wire_types_are_refused(wire: int) -> None:
    assert body_kind(trading.CancelOrder, key(100, wire) + cancel_body()) == "InvalidWireType"


def test_wrong_wire_type_for_a_known_tag() -> None:
    body = join_fields([f for f in split_fields(cancel_body()) if f[0] != 2]) + key(2, 3) + b"\0" * 8
    assert body_kind(trading.CancelOrder, body) == "WrongWireType"


def test_tag_zero_is_invalid() -> None:
    assert body_kind(trading.CancelOrder, key(0, 0) + b"\0" + cancel_body()) == "InvalidTag"


def test_unknown_tag_with_oversize_length_is_truncated() -> None:
    body = cancel_body() + key(100, 4) + U32.pack(0xFFFFFFFF)
    assert body_kind(trading.CancelOrder, body) == "Truncated"


def test_bool_other_than_0_or_1() -> None:
    body = replace_field(new_order().encode(), 10, b"\x02")
    assert body_kind(trading.NewOrder, body) == "InvalidValue"


def test_unknown_enum_value() -> None:
    body = replace_field(new_order().encode(), 3, U32.pack(3))
    assert body_kind(trading.NewOrder, body) == "UnknownEnumValue"


def test_unknown_enum_value_inside_a_list() -> None:
    body = replace_field(telemetry().encode(), 20, len_value(U32.pack(1) + U32.pack(9)))
    assert body_kind(trading.Telemetry, body) == "UnknownEnumValue"


@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ab\xe2\x82"])
def test_invalid_utf8(bad: bytes) -> None:
    body = trading.Heartbeat(ts_ns=1, seq=2, sender="s").encode()
    body = replace_field(body, 3, len_value(bad))
    assert body_kind(trading.Heartbeat, body) == "InvalidUtf8"


def test_list_count_over_max_len() -> None:
    labels = U32.pack(17) + b"".join(len_value(b"x") for _ in range(17))
    body = replace_field(telemetry().encode(), 15, len_value(labels))
    assert body_kind(trading.Telemetry, body) == "LengthMismatch"


def test_list_count_at_max_len_decodes() -> None:
    msg = telemetry()
    msg.labels = [str(i) for i in range(16)]
    assert trading.Telemetry.decode(msg.encode()).labels == msg.labels


@pytest.mark.parametrize("count", [0, 7, 9])
def test_array_count_other_than_n(count: int) -> None:
    value = len_value(U32.pack(count) + bytes(count))
    body = replace_field(new_order().encode(), 11, value)
    assert body_kind(trading.NewOrder, body) == "LengthMismatch"


def test_hostile_list_count_is_truncated_before_allocating() -> None:
    body = replace_field(telemetry().encode(), 17, len_value(U32.pack(0xFFFFFFFF) + b"\0" * 8))
    assert body_kind(trading.Telemetry, body) == "Truncated"
    body = replace_field(telemetry().encode(), 22, len_value(U32.pack(0x7FFFFFFF)))
    assert body_kind(trading.Telemetry, body) == "Truncated"


def test_bytes_left_inside_a_list_are_refused() -> None:
    body = replace_field(telemetry().encode(), 17, len_value(U32.pack(1) + b"\0" * 9))
    assert body_kind(trading.Telemetry, body) == "TrailingBytes"


def test_length_past_the_end_of_the_body_is_truncated() -> None:
    body = replace_field(trading.Heartbeat(ts_ns=1, seq=2, sender="s").encode(), 3, U32.pack(50) + b"s")
    assert body_kind(trading.Heartbeat, body) == "Truncated"


def test_struct_missing_a_required_field() -> None:
    instrument = trading.Instrument(id=7, symbol="S", venue="V", tick_size=0.5)
    body = trading.BookSnapshot(ts_ns=1, instrument=instrument, bids=[], asks=[]).encode()
    without_symbol = key(1, 2) + U32.pack(7) + key(3, 4) + len_value(b"V") + key(4, 3) + bytes(8)
    body = replace_field(body, 2, len_value(without_symbol))
    assert body_kind(trading.BookSnapshot, body) == "MissingField"


# Fuzzing with a fixed seed: any outcome but an exception other than DecodeError.


def _golden_list(golden_frames: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(golden_frames):
        _, used = trading.decode_frame(golden_frames[pos:])
        out.append(golden_frames[pos : pos + used])
        pos += used
    return out


def test_mutated_golden_frames_decode_or_raise_decode_error(golden_frames: bytes) -> None:
    rng = random.Random(0x4D59434C)
    frames = _golden_list(golden_frames) + [telemetry().encode_frame(), new_order().encode_frame()]
    for _ in range(20000):
        data = bytearray(rng.choice(frames))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data)) if rng.random() < 0.2 else rng.randrange(32, len(data)) if len(data) > 32 else 0
            data[at] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(32, len(data) + 1) :]
            struct.pack_into("<I", data, 8, len(data) - 32)
        try:
            trading.decode_frame(bytes(data))
        except DecodeError:
            pass


def test_random_bodies_decode_or_raise_decode_error() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        cls = rng.choice(list(trading.REGISTRY.values()))
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        try:
            cls.decode(body)
        except DecodeError:
            pass
