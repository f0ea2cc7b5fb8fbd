import enum
import struct as _struct
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

MAGIC = b"MYCL"
"""The four bytes every frame starts with."""
VERSION = 1
"""The only protocol version this module reads and writes."""
HEADER_LEN = 32
"""Bytes in a frame header."""
DEFAULT_MAX_FRAME_SIZE = 1 << 20
"""The largest body `decode_frame` accepts unless told otherwise (1 MiB)."""
MAX_DEPTH = 64
"""How deeply structs may nest inside one message; deeper input is rejected as `TooDeep`."""
FLAG_END_OF_BATCH = 0x01
"""Header flag bit 0: the sender has nothing more queued right now."""


class DecodeError(Exception):
    """Bytes that are not a valid frame or body.

    `kind` names the check that failed, with the names of the Rust runtime's
    `FrameError`/`DecodeError` variants (`Truncated`, `BadMagic`, `UnsupportedVersion`,
    `FrameTooLarge`, `InvalidTag`, `InvalidWireType`, `WrongWireType`, `DuplicateField`,
    `MissingField`, `InvalidValue`, `InvalidUtf8`, `LengthMismatch`, `UnknownEnumValue`,
    `TooDeep`, `StackLimit`, `TrailingBytes`), plus `UnknownType` for a type id that names no
    message of this schema; `detail` says where. `StackLimit` is Python's recursion limit
    reached before `TooDeep`'s: structs that each nest lists of lists.
    This is the only exception decoding raises, whatever the input.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class EncodeError(ValueError):
    """A value that cannot be written: wrong type, out of range, too many elements, ..."""


_HEADER = _struct.Struct("<4sBBHIQQI")
_KEY = _struct.Struct("<H")
_LEN = _struct.Struct("<I")
_F = _struct.Struct("<f")
_D = _struct.Struct("<d")
_Q = _struct.Struct("<Q")
_WIRE_NAMES = ("I8", "I16", "I32", "I64", "LEN")
_WIRE_SKIP = (1, 2, 4, 8)


class _Reader:
    """A bounded view of the input: every read checks it stays below `end`."""

    __slots__ = ("buf", "pos", "end", "depth")

    def __init__(self, buf: memoryview, pos: int, end: int, depth: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end
        self.depth = depth

    def need(self, n: int, what: str) -> None:
        if n > self.end - self.pos:
            raise DecodeError(
                "Truncated", f"{what} needs {n} bytes but {self.end - self.pos} remain"
            )

    def fixed(self, st: _struct.Struct, what: str) -> Any:
        self.need(st.size, what)
        value = st.unpack_from(self.buf, self.pos)[0]
        self.pos += st.size
        return value

    def sub(self, what: str) -> "_Reader":
        n = self.fixed(_LEN, what)
        self.need(n, what)
        inner = _Reader(self.buf, self.pos, self.pos + n, self.depth)
        self.pos += n
        return inner

    def rest(self) -> bytes:
        data = bytes(self.buf[self.pos : self.end])
        self.pos = self.end
        return data

    def skip(self, wire: int, what: str) -> None:
        if wire < 4:
            self.need(_WIRE_SKIP[wire], what)
            self.pos += _WIRE_SKIP[wire]
        else:
            self.sub(what)


class _Codec:
    """How one type is written: `wire` is its wire type, `width` its packed size in lists
    (None for length-prefixed types)."""

    __slots__ = ("wire", "width")

    def write(self, out: bytearray, value: Any, what: str) -> None:
        raise NotImplementedError

    def read(self, r: _Reader, what: str) -> Any:
        raise NotImplementedError

    def text(self, value: Any) -> str:
        raise NotImplementedError


class _Int(_Codec):
    __slots__ = ("st", "lo", "hi", "name")

    def __init__(self, name: str, fmt: str, wire: int) -> None:
        self.name = name
        self.st = _struct.Struct("<" + fmt)
        self.wire = wire
        self.width = self.st.size
        bits = 8 * self.st.size
        signed = fmt.islower()
        self.lo = -(1 << (bits - 1)) if signed else 0
        self.hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if type(value) is bool or not isinstance(value, int):
            raise EncodeError(f"{what}: expected an int ({self.name}), got {type(value).__name__}")
        if not self.lo <= value <= self.hi:
            raise EncodeError(f"{what}: {value} is out of range for {self.name}")
        out += self.st.pack(value)

    def read(self, r: _Reader, what: str) -> int:
        return r.fixed(self.st, what)

    def text(self, value: Any) -> str:
        return str(int(value))


class _Bool(_Codec):
    __slots__ = ()

    def __init__(self) -> None:
        self.wire = 0
        self.width = 1

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if type(value) is not bool:
            raise EncodeError(f"{what}: expected a bool, got {type(value).__name__}")
        out.append(1 if value else 0)

    def read(self, r: _Reader, what: str) -> bool:
        r.need(1, what)
        byte = r.buf[r.pos]
        r.pos += 1
        if byte > 1:
            raise DecodeError("InvalidValue", f"{what}: bool byte is {byte}, not 0 or 1")
        return byte == 1

    def text(self, value: Any) -> str:
        return "true" if value else "false"


class _F64(_Codec):
    __slots__ = ()

    def __init__(self) -> None:
        self.wire = 3
        self.width = 8

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if type(value) is bool or not isinstance(value, (int, float)):
            raise EncodeError(f"{what}: expected a float (f64), got {type(value).__name__}")
        try:
            out += _D.pack(value)
        except (OverflowError, _struct.error) as e:
            raise EncodeError(f"{what}: {value!r} does not fit in f64: {e}") from None

    def read(self, r: _Reader, what: str) -> float:
        return r.fixed(_D, what)

    def text(self, value: Any) -> str:
        return f"f64:{_Q.unpack(_D.pack(value))[0]:016x}"


def _float_of_f32_bits(bits: int) -> float:
    if bits & 0x7F800000 == 0x7F800000 and bits & 0x007FFFFF:
        # A NaN. Widened by hand: the hardware conversion sets the quiet bit, which would
        # turn a signalling NaN into another value on the way back.
        wide = ((bits & 0x80000000) << 32) | 0x7FF0000000000000 | ((bits & 0x007FFFFF) << 29)
        return _D.unpack(_Q.pack(wide))[0]
    return _F.unpack(_LEN.pack(bits))[0]


def _f32_bits_of_float(value: float) -> int:
    if value != value:
        wide = _Q.unpack(_D.pack(value))[0]
        mantissa = (wide >> 29) & 0x007FFFFF
        return ((wide >> 32) & 0x80000000) | 0x7F800000 | (mantissa or 0x00400000)
    return _LEN.unpack(_F.pack(value))[0]


class _F32(_Codec):
    __slots__ = ()

    def __init__(self) -> None:
        self.wire = 2
        self.width = 4

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if type(value) is bool or not isinstance(value, (int, float)):
            raise EncodeError(f"{what}: expected a float (f32), got {type(value).__name__}")
        try:
            out += _LEN.pack(_f32_bits_of_float(float(value)))
        except (OverflowError, _struct.error) as e:
            raise EncodeError(f"{what}: {value!r} does not fit in f32: {e}") from None

    def read(self, r: _Reader, what: str) -> float:
        return _float_of_f32_bits(r.fixed(_LEN, what))

    def text(self, value: Any) -> str:
        return f"f32:{_f32_bits_of_float(value):08x}"


def _escape(data: bytes) -> str:
    return "".join(
        chr(b) if 0x20 <= b <= 0x7E and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in data
    )


class _Str(_Codec):
    __slots__ = ()

    def __init__(self) -> None:
        self.wire = 4
        self.width = None

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if not isinstance(value, str):
            raise EncodeError(f"{what}: expected a str, got {type(value).__name__}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise EncodeError(f"{what}: not encodable as UTF-8: {e}") from None
        _write_len(out, len(data), what)
        out += data

    def read(self, r: _Reader, what: str) -> str:
        data = r.sub(what).rest()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError("InvalidUtf8", f"{what}: {e.reason} at byte {e.start}") from None

    def text(self, value: Any) -> str:
        return '"' + _escape(value.encode("utf-8")) + '"'


class _Bytes(_Codec):
    __slots__ = ()

    def __init__(self) -> None:
        self.wire = 4
        self.width = None

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise EncodeError(f"{what}: expected bytes, got {type(value).__name__}")
        data = bytes(value)
        _write_len(out, len(data), what)
        out += data

    def read(self, r: _Reader, what: str) -> bytes:
        return r.sub(what).rest()

    def text(self, value: Any) -> str:
        return 'b"' + _escape(bytes(value)) + '"'


class _Enum(_Codec):
    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.wire = 2
        self.width = 4

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if type(value) is bool or not isinstance(value, int):
            raise EncodeError(f"{what}: expected a {self.cls.__name__}, got {type(value).__name__}")
        try:
            member = self.cls(value)
        except ValueError:
            raise EncodeError(f"{what}: {value} is not a {self.cls.__name__} value") from None
        out += _LEN.pack(int(member))

    def read(self, r: _Reader, what: str) -> Any:
        raw = r.fixed(_LEN, what)
        try:
            return self.cls(raw)
        except ValueError:
            raise DecodeError(
                "UnknownEnumValue", f"{what}: {raw} is not a {self.cls.__name__} value"
            ) from None

    def text(self, value: Any) -> str:
        return self.cls(value).name


def _write_len(out: bytearray, n: int, what: str) -> None:
    if n > 0xFFFFFFFF:
        raise EncodeError(f"{what}: {n} bytes do not fit a u32 length")
    out += _LEN.pack(n)


def _begin_len(out: bytearray) -> int:
    mark = len(out)
    out += b"\0\0\0\0"
    return mark


def _end_len(out: bytearray, mark: int, what: str) -> None:
    n = len(out) - mark - 4
    if n > 0xFFFFFFFF:
        raise EncodeError(f"{what}: {n} bytes do not fit a u32 length")
    _LEN.pack_into(out, mark, n)


class _Seq(_Codec):
    """`list<T>` (bound `max_len`, may be None) or `[T; N]` (`exact` = N)."""

    __slots__ = ("elem", "max_len", "exact")

    def __init__(self, elem: _Codec, max_len: int | None, exact: int | None) -> None:
        self.elem = elem
        self.max_len = max_len
        self.exact = exact
        self.wire = 4
        self.width = None

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"{what}: expected a list, got {type(value).__name__}")
        count = len(value)
        if self.exact is not None and count != self.exact:
            raise EncodeError(f"{what}: array needs exactly {self.exact} elements, got {count}")
        if self.max_len is not None and count > self.max_len:
            raise EncodeError(f"{what}: {count} elements exceed max_len {self.max_len}")
        mark = _begin_len(out)
        _write_len(out, count, what)
        for i, item in enumerate(value):
            self.elem.write(out, item, f"{what}[{i}]")
        _end_len(out, mark, what)

    def read(self, r: _Reader, what: str) -> list[Any]:
        inner = r.sub(what)
        count = inner.fixed(_LEN, what + " count")
        if self.exact is not None and count != self.exact:
            raise DecodeError(
                "LengthMismatch", f"{what}: array needs exactly {self.exact} elements, got {count}"
            )
        if self.max_len is not None and count > self.max_len:
            raise DecodeError(
                "LengthMismatch", f"{what}: {count} elements exceed max_len {self.max_len}"
            )
        # Every element takes at least `width` (or a 4-byte length): refuse a count the
        # remaining bytes cannot hold before building anything.
        inner.need(count * (self.elem.width or 4), f"{what} ({count} elements)")
        # A loop, not a comprehension: a comprehension is one more interpreter frame per
        # list level, and nested lists inside recursive structs reach the recursion limit.
        items = []
        read = self.elem.read
        for i in range(count):
            items.append(read(inner, f"{what}[{i}]"))
        if inner.pos != inner.end:
            raise DecodeError(
                "TrailingBytes", f"{what}: {inner.end - inner.pos} bytes left after {count} elements"
            )
        return items

    def text(self, value: Any) -> str:
        return "[" + ", ".join(self.elem.text(v) for v in value) + "]"


class _Field:
    __slots__ = ("tag", "name", "codec", "optional", "key")

    def __init__(self, tag: int, name: str, codec: _Codec, optional: bool) -> None:
        self.tag = tag
        self.name = name
        self.codec = codec
        self.optional = optional
        self.key = _KEY.pack((tag << 3) | codec.wire)


class _Fields:
    """A struct's or message's field table: declaration order, tag order and tag lookup."""

    __slots__ = ("declared", "by_tag_order", "by_tag")

    def __init__(self, *fields: _Field) -> None:
        self.declared = fields
        self.by_tag_order = tuple(sorted(fields, key=lambda f: f.tag))
        self.by_tag = {f.tag: f for f in fields}


def _write_fields(out: bytearray, cls: type, value: Any, what: str) -> None:
    for f in cls._FIELDS.by_tag_order:
        item = getattr(value, f.name)
        if item is None:
            if f.optional:
                continue
            raise EncodeError(f"{what}.{f.name}: required field is None")
        out += f.key
        f.codec.write(out, item, f"{what}.{f.name}")


def _read_fields(cls: type, r: _Reader) -> Any:
    table: _Fields = cls._FIELDS
    name = cls.__name__
    values: dict[str, Any] = {}
    while r.pos < r.end:
        key = r.fixed(_KEY, f"{name} field key")
        tag = key >> 3
        wire = key & 7
        if tag == 0:
            raise DecodeError("InvalidTag", f"{name}: tag 0 is not a valid field tag")
        if wire > 4:
            raise DecodeError("InvalidWireType", f"{name} tag {tag}: wire type {wire} is reserved")
        f = table.by_tag.get(tag)
        if f is None:
            r.skip(wire, f"{name} unknown tag {tag}")
            continue
        what = f"{name}.{f.name}"
        if wire != f.codec.wire:
            raise DecodeError(
                "WrongWireType",
                f"{what}: wire type {_WIRE_NAMES[wire]}, expected {_WIRE_NAMES[f.codec.wire]}",
            )
        if f.name in values:
            raise DecodeError("DuplicateField", f"{what}: tag {tag} appears twice")
        values[f.name] = f.codec.read(r, what)
    for f in table.declared:
        if f.name not in values:
            if not f.optional:
                raise DecodeError("MissingField", f"{name}.{f.name} (tag {f.tag}) is required")
            values[f.name] = None
    return cls(**values)


class _StructRef(_Codec):
    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.wire = 4
        self.width = None

    def write(self, out: bytearray, value: Any, what: str) -> None:
        if not isinstance(value, self.cls):
            raise EncodeError(f"{what}: expected a {self.cls.__name__}, got {type(value).__name__}")
        mark = _begin_len(out)
        _write_fields(out, self.cls, value, what)
        _end_len(out, mark, what)

    def read(self, r: _Reader, what: str) -> Any:
        inner = r.sub(what)
        inner.depth += 1
        if inner.depth > MAX_DEPTH:
            raise DecodeError("TooDeep", f"{what}: structs nest deeper than {MAX_DEPTH}")
        return _read_fields(self.cls, inner)

    def text(self, value: Any) -> str:
        return to_text(value)


_BOOL = _Bool()
_U8 = _Int("u8", "B", 0)
_U16 = _Int("u16", "H", 1)
_U32 = _Int("u32", "I", 2)
_U64 = _Int("u64", "Q", 3)
_I8 = _Int("i8", "b", 0)
_I16 = _Int("i16", "h", 1)
_I32 = _Int("i32", "i", 2)
_I64 = _Int("i64", "q", 3)
_F32 = _F32()
_F64 = _F64()
_STRING = _Str()
_BYTES = _Bytes()


class Message:
    """Base of every generated message class."""

    __slots__ = ()
    TYPE_ID: ClassVar[int]
    TOPIC: ClassVar[str]

    def encode(self) -> bytes:
        """The TLV body of this message (no frame header)."""
        out = bytearray()
        _write_fields(out, type(self), self, type(self).__name__)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes | bytearray | memoryview) -> Any:
        """Reads a body (no frame header) written by `encode`; raises `DecodeError`."""
        view = memoryview(body).cast("B")
        try:
            return _read_fields(cls, _Reader(view, 0, len(view), 0))
        except RecursionError:
            # Structs within MAX_DEPTH, each holding lists of lists, can still take more
            # frames than the interpreter allows; the peer's bytes must not surface as
            # anything but a DecodeError.
            raise DecodeError(
                "StackLimit",
                f"{cls.__name__}: nested structs and lists exceed Python's recursion limit "
                f"({sys.getrecursionlimit()})",
            ) from None

    def encode_frame(self, *, seq: int = 0, ts_ns: int = 0, flags: int = 0) -> bytes:
        """Header plus body, ready to write to a connection."""
        return encode_frame(self, seq=seq, ts_ns=ts_ns, flags=flags)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: the header fields and the message it carries."""

    type_id: int
    flags: int
    seq: int
    ts_ns: int
    message: Any


def encode_frame(message: Message, *, seq: int = 0, ts_ns: int = 0, flags: int = 0) -> bytes:
    """Encodes `message` with a 32-byte header (docs/wire.md); raises `EncodeError`."""
    if not isinstance(message, Message):
        raise EncodeError(f"expected a message, got {type(message).__name__}")
    for name, value, hi in (("seq", seq, 0xFFFFFFFFFFFFFFFF), ("ts_ns", ts_ns, 0xFFFFFFFFFFFFFFFF), ("flags", flags, 0xFF)):
        if type(value) is bool or not isinstance(value, int) or not 0 <= value <= hi:
            raise EncodeError(f"frame {name}: {value!r} is not an integer in 0..={hi}")
    body = message.encode()
    if len(body) > 0xFFFFFFFF:
        raise EncodeError(f"frame body of {len(body)} bytes does not fit a u32 length")
    return _HEADER.pack(MAGIC, VERSION, flags, message.TYPE_ID, len(body), seq, ts_ns, 0) + body


def decode_message(type_id: int, body: bytes | bytearray | memoryview) -> Any:
    """Decodes a body whose type id is already known; raises `DecodeError`."""
    cls = REGISTRY.get(type_id)
    if cls is None:
        raise DecodeError("UnknownType", f"type id {type_id} is not a message of this schema")
    return cls.decode(body)


def decode_frame(
    data: bytes | bytearray | memoryview, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> tuple[Frame, int]:
    """Decodes the frame at the start of `data`.

    Returns the frame and the number of bytes it took, so a buffer holding several frames
    can be read in a loop. Raises `DecodeError` (and nothing else) on any malformed input.
    """
    view = memoryview(data).cast("B")
    if len(view) < HEADER_LEN:
        raise DecodeError("Truncated", f"frame header needs {HEADER_LEN} bytes, got {len(view)}")
    magic, version, flags, type_id, body_len, seq, ts_ns, _reserved = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise DecodeError("BadMagic", f"frame starts with {bytes(magic)!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise DecodeError("UnsupportedVersion", f"frame version {version}, this reader knows {VERSION}")
    if body_len > max_frame_size:
        raise DecodeError("FrameTooLarge", f"body of {body_len} bytes exceeds the maximum {max_frame_size}")
    end = HEADER_LEN + body_len
    if len(view) < end:
        raise DecodeError("Truncated", f"frame body needs {body_len} bytes, {len(view) - HEADER_LEN} present")
    message = decode_message(type_id, view[HEADER_LEN:end])
    return Frame(type_id, flags, seq, ts_ns, message), end


def to_text(value: Any) -> str:
    """The canonical text of a message or struct (docs/contracts-languages.md): the same
    string the Rust and OCaml codecs print for the same value, floats as IEEE-754 bits."""
    table: _Fields = type(value)._FIELDS
    parts = []
    for f in table.declared:
        item = getattr(value, f.name)
        if not f.optional:
            parts.append(f"{f.name}={f.codec.text(item)}")
        elif item is None:
            parts.append(f"{f.name}=none")
        else:
            parts.append(f"{f.name}=some({f.codec.text(item)})")
    return type(value).__name__ + "{" + ", ".join(parts) + "}"
