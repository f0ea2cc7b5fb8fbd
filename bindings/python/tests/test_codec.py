"""The extension's codec against the generated pure-Python one: the same bytes, the same
messages, the same errors (kind and all), on the golden vectors and on hostile input."""

import dataclasses
import pathlib
import random

import pytest

from mycelium import _native, trading
from mycelium.trading import DecodeError, EncodeError, Heartbeat

GOLDEN = pathlib.Path(__file__).resolve().parents[3] / "tests" / "contracts" / "golden"


def golden_messages():
    data = (GOLDEN / "frames.bin").read_bytes()
    pos, out = 0, []
    while pos < len(data):
        frame, used = trading.decode_frame(data[pos:])
        out.append(frame.message)
        pos += used
    return out


def outcome(call):
    """What a codec call did: ("ok", text of the value) or ("err", exception class, kind)."""
    try:
        value = call()
    except DecodeError as e:
        return ("err", "DecodeError", e.kind)
    except EncodeError as e:
        return ("err", "EncodeError", str(e))
    if isinstance(value, bytes):
        return ("ok", value)
    return ("ok", trading.to_text(value), type(value))


def test_every_golden_message_encodes_and_decodes_as_the_generated_codec_does():
    messages = golden_messages()
    assert len(messages) > 10
    for message in messages:
        body = message.encode()
        assert _native.encode(message) == body
        cls = type(message)
        native = _native.decode(cls, body)
        assert type(native) is cls
        assert trading.to_text(native) == trading.to_text(cls.decode(body))
        assert _native.encode(native) == body
        # bytearray and memoryview bodies too.
        for view in (bytearray(body), memoryview(body)):
            assert trading.to_text(_native.decode(cls, view)) == trading.to_text(native)


def test_hostile_bodies_fail_with_the_same_decode_error_kind():
    rng = random.Random(20261122)
    for message in golden_messages():
        cls = type(message)
        body = message.encode()
        candidates = [body[:n] for n in range(len(body))]
        for _ in range(40):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            candidates.append(bytes(mutated))
        candidates.append(body + b"\x00")
        candidates.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
        for data in candidates:
            assert outcome(lambda: _native.decode(cls, data)) == outcome(lambda: cls.decode(data)), (
                cls.__name__,
                data.hex(),
            )


def test_values_that_cannot_be_written_raise_encode_error_as_the_generated_codec_does():
    hb = Heartbeat(ts_ns=1, seq=2, sender="x")
    bad = [
        dataclasses.replace(hb, seq=-1),
        dataclasses.replace(hb, seq=2**64),
        dataclasses.replace(hb, seq=True),
        dataclasses.replace(hb, seq=1.5),
        dataclasses.replace(hb, sender=b"bytes"),
        dataclasses.replace(hb, sender=None),
    ]
    for message in bad:
        native = outcome(lambda: _native.encode(message))
        pure = outcome(lambda: message.encode())
        assert native[:2] == pure[:2] == ("err", "EncodeError"), (message, native, pure)
        assert native == pure


def test_ints_at_the_edges_of_their_range_encode_as_the_generated_codec_does():
    # The native encoder reads an int that fits an i64 in one call and any other one exactly
    # by a second path: both sides of that line, and of each field's range.
    hb = Heartbeat(ts_ns=1, seq=2, sender="x")
    telemetry = next(m for m in golden_messages() if type(m).__name__ == "Telemetry")
    cases = [dataclasses.replace(hb, seq=v) for v in (0, 2**31, 2**63 - 1, 2**63, 2**64 - 1)]
    cases += [dataclasses.replace(hb, seq=v) for v in (-1, -(2**63), -(2**63) - 1, 2**64, 2**100)]
    edges = (-(2**63) - 1, -(2**63), -1, 0, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64)
    cases += [dataclasses.replace(telemetry, pnl_cents=v) for v in edges]
    cases += [dataclasses.replace(telemetry, drift_ns=v) for v in edges]
    kinds = set()
    for message in cases:
        native = outcome(lambda: _native.encode(message))
        assert native == outcome(lambda: message.encode()), message
        kinds.add(native[0])
    assert kinds == {"ok", "err"}


def test_unknown_type_and_non_messages_are_refused():
    with pytest.raises(TypeError, match="not a generated contract class"):
        _native.encode(object())
    with pytest.raises(TypeError, match="not a generated contract class"):
        _native.decode(int, b"")
