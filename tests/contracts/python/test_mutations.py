"""The Python reader against the Rust reader on mutated golden frames: the same error kind,
or the same bytes when re-encoding what was accepted (tests/contracts/golden/mutations.txt)."""

import struct

import trading

from conftest import GOLDEN


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def apply(frame: bytes, edits: list[str]) -> bytes:
    d = bytearray(frame)
    for edit in edits:
        if edit[0] == "s":
            at, byte = edit[1:].split(":")
            d[int(at)] = int(byte, 16)
        elif edit[0] == "c":
            del d[int(edit[1:]) :]
            struct.pack_into("<I", d, 8, len(d) - 32)
        elif edit[0] == "i":
            at, data = edit[1:].split(":")
            d[int(at) : int(at)] = bytes.fromhex(data)
            struct.pack_into("<I", d, 8, len(d) - 32)
        else:
            raise AssertionError(f"unknown edit {edit!r}")
    return bytes(d)


def outcome(data: bytes) -> str:
    try:
        frame, _ = trading.decode_frame(data)
    except trading.DecodeError as e:
        return f"err {e.kind}"
    again = frame.message.encode_frame(seq=frame.seq, ts_ns=frame.ts_ns, flags=frame.flags)
    return f"ok {fnv1a64(again):016x}"


def test_mutated_frames_give_the_same_outcome_as_in_rust(golden_frames: bytes) -> None:
    frames = []
    pos = 0
    while pos < len(golden_frames):
        _, used = trading.decode_frame(golden_frames[pos:])
        frames.append(golden_frames[pos : pos + used])
        pos += used
    lines = [
        line
        for line in (GOLDEN / "mutations.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines
    mismatches = []
    for number, line in enumerate(lines, 1):
        spec, expected = line.split(" -> ")
        index, *edits = spec.split()
        got = outcome(apply(frames[int(index)], edits))
        if got != expected:
            mismatches.append(f"line {number}: {line!r}: Python says {got!r}")
    assert not mismatches, f"{len(mismatches)} of {len(lines)} differ:\n" + "\n".join(mismatches[:20])
