"""The Python codec against the golden vectors written by the Rust encoder."""

import enum
import re

import trading


def _expected(lines: list[str]) -> list[str]:
    return [line for line in lines if line and not line.startswith("#")]


def test_every_golden_frame_decodes_to_the_expected_value_and_re_encodes_to_the_same_bytes(
    golden_frames: bytes, golden_expected: list[str]
) -> None:
    expected = _expected(golden_expected)
    pos = 0
    index = 0
    while pos < len(golden_frames):
        frame, used = trading.decode_frame(golden_frames[pos:])
        original = golden_frames[pos : pos + used]
        assert index < len(expected), "more frames than expected lines"
        assert trading.to_text(frame.message) == expected[index], f"frame {index}"
        assert frame.type_id == type(frame.message).TYPE_ID
        again = frame.message.encode_frame(seq=frame.seq, ts_ns=frame.ts_ns, flags=frame.flags)
        assert again == original, f"frame {index} re-encodes differently"
        pos += used
        index += 1
    assert index == len(expected), "fewer frames than expected lines"


def test_golden_vectors_cover_every_message_and_enum_variant(
    golden_frames: bytes, golden_expected: list[str]
) -> None:
    seen_types = set()
    pos = 0
    while pos < len(golden_frames):
        frame, used = trading.decode_frame(golden_frames[pos:])
        seen_types.add(frame.type_id)
        pos += used
    assert seen_types == set(trading.REGISTRY)
    text = "\n".join(_expected(golden_expected))
    enums = [
        v for v in vars(trading).values()
        if isinstance(v, type) and issubclass(v, enum.IntEnum) and v is not enum.IntEnum
    ]
    assert enums
    for enum_cls in enums:
        for member in enum_cls:
            pattern = r"[=\[( ]" + member.name + r"[,\])}]"
            assert re.search(pattern, text), f"{enum_cls.__name__}.{member.name} has no golden vector"


def test_stream_of_frames_decodes_back_to_back(golden_frames: bytes) -> None:
    view = memoryview(golden_frames)
    pos = 0
    seqs = []
    while pos < len(view):
        frame, used = trading.decode_frame(view[pos:])
        seqs.append(frame.seq)
        pos += used
    assert pos == len(golden_frames)
    assert seqs == sorted(seqs)


def test_schema_digest_matches_the_rust_one(golden_expected: list[str]) -> None:
    lines = [line for line in golden_expected if line.startswith("# schema_digest ")]
    assert lines, "expected.txt names no schema digest"
    assert lines[0].split()[2] == trading.SCHEMA_DIGEST
