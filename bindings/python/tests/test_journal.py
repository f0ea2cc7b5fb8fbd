"""mycelium.journal: a journal read into rows and a DataFrame; a damaged one refused.

The journals are written here byte for byte as docs/journal.md specifies them, so the
reader is checked against the documented format, not only against its own writer.
"""

import json
import os
import struct
import zlib

import pytest

import mycelium
from mycelium import journal
from mycelium.trading import Quote

KINDS = {"handled": 1, "sent": 2, "published": 3, "replied": 4, "started": 7, "failed": 8,
         "gap": 11, "cut": 12}
ENCODINGS = {"empty": 0, "contract": 1, "json": 2, "text": 3, "raw": 4, "u64": 5, "journal": 6}
NONE = 2**64 - 1


def header(segment, first_seq, node=b"gateway"):
    head = b"MYCJRNL\0" + struct.pack("<HHI", 1, 0, 82 + len(node))
    head += struct.pack("<QQQ", segment, first_seq, 1_700_000_000_000_000_000)
    head += bytes(32) + struct.pack("<H", len(node)) + node + struct.pack("<I", 0)
    return head + struct.pack("<I", zlib.crc32(head))


def record(seq, kind, time_ns, actor, name="", payload=b"", encoding="empty", origin=(0, 0, 0),
           cause=None, asked=False, type_id=0, topic=b""):
    name = name.encode()
    body = struct.pack("<BBBB", KINDS[kind], ENCODINGS[encoding], origin[0], int(asked))
    body += struct.pack("<QQIQ", seq, time_ns, 0, actor)
    body += struct.pack("<IQQ", origin[1], origin[2], NONE if cause is None else cause)
    body += struct.pack("<HHH", type_id, len(name), len(topic)) + name + topic + payload
    head = struct.pack("<II", len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def segment_file(directory, number):
    return os.path.join(directory, f"{number:020d}.journal")


def write(directory, records, number=1, first_seq=0):
    os.makedirs(directory, exist_ok=True)
    with open(segment_file(directory, number), "wb") as f:
        f.write(header(number, first_seq) + b"".join(records))


def quote_body():
    return Quote(ts_ns=5, instrument=7, bid_px=99.5, bid_qty=1.0, ask_px=100.5,
                 ask_qty=2.0).encode()


def sample(directory):
    write(directory, [
        record(0, "started", 0, 3, encoding="u64", payload=struct.pack("<Q", 0)),
        record(1, "handled", 1_000, 3, "Quote", quote_body(), "contract", origin=(1, 0, 1),
               type_id=Quote.TYPE_ID),
        record(2, "handled", 2_000, 3, "Fill", b'{"qty": 3}', "json", origin=(5, 1, 0),
               asked=True),
        record(3, "replied", 2_000, 3, "u32", b"3", "json", cause=2),
        record(4, "failed", 3_000, 4, "", b"boom", "text"),
    ])


def test_rows_with_their_fields_and_payloads(tmp_path):
    d = str(tmp_path / "j")
    sample(d)
    j = journal.Journal(d, schema=mycelium.trading)
    assert j.node == "gateway"
    assert j.schema_digest == "0" * 64
    assert [s.number for s in j.segments] == [1]
    rows = j.rows()
    assert [r.kind for r in rows] == ["started", "handled", "handled", "replied", "failed"]
    started, quote, fill, reply, failed = rows
    assert started.payload == 0 and started.encoding == "u64"
    assert quote.origin == ("actor", 0, 1)
    assert isinstance(quote.payload, Quote) and quote.payload.bid_px == 99.5
    assert fill.payload == {"qty": 3} and fill.asked and fill.origin == ("python", 1)
    assert reply.cause == 2 and reply.payload == 3 and reply.cause is not None
    assert failed.payload == "boom" and failed.actor == 4 and failed.node == 0
    assert j.cut is None
    # Without the schema module a contract payload stays bytes.
    assert journal.read(d, type="Quote")[0].payload == quote_body()


def test_filters(tmp_path):
    d = str(tmp_path / "j")
    sample(d)
    assert [r.seq for r in journal.read(d, actor=4)] == [4]
    assert [r.seq for r in journal.read(d, actor="3@0", kind="handled,replied")] == [1, 2, 3]
    # As ActorRef.id and the journal tool write a number.
    assert [r.seq for r in journal.read(d, actor="#4")] == [4]
    assert [r.seq for r in journal.read(d, type=["Fill"])] == [2]
    assert [r.seq for r in journal.read(d, start="1us", end=3000)] == [1, 2, 3]
    with pytest.raises(ValueError, match='kind "handle": expected one of handled'):
        journal.read(d, kind="handle")
    with pytest.raises(ValueError, match="expected N, #N or N@NODE"):
        journal.read(d, actor="x")


def test_dataframe(tmp_path):
    pandas = pytest.importorskip("pandas")
    d = str(tmp_path / "j")
    sample(d)
    frame = journal.dataframe(d, kind="handled")
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(journal.COLUMNS)
    assert list(frame["type"]) == ["Quote", "Fill"]
    assert list(frame["time_ns"]) == [1_000, 2_000]
    assert str(frame["cause"].dtype) == "Int64", "record numbers stay integers"


def test_a_corrupted_record_is_refused_with_where_and_the_rows_before(tmp_path):
    d = str(tmp_path / "j")
    sample(d)
    path = segment_file(d, 1)
    data = bytearray(open(path, "rb").read())
    # The third record's body: after the header and two whole records.
    offset = len(header(1, 0)) + len(record(0, "started", 0, 3, encoding="u64",
                                            payload=struct.pack("<Q", 0)))
    offset += len(record(1, "handled", 1_000, 3, "Quote", quote_body(), "contract",
                         origin=(1, 0, 1), type_id=Quote.TYPE_ID))
    data[offset + 20] ^= 0x40
    open(path, "wb").write(bytes(data))
    with pytest.raises(journal.JournalCorrupt) as caught:
        journal.read(d)
    e = caught.value
    assert isinstance(e, journal.JournalReadError) and isinstance(e, mycelium.MyceliumError)
    assert e.path == path and e.offset == offset
    assert f"corrupt at byte offset {offset}" in str(e)
    assert [r.seq for r in e.rows] == [0, 1]


def test_a_cut_tail_reads_to_the_last_whole_record(tmp_path):
    d = str(tmp_path / "j")
    sample(d)
    path = segment_file(d, 1)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-5])
    j = journal.Journal(d)
    assert [r.seq for r in j.rows()] == [0, 1, 2, 3]
    assert j.cut is not None and "segment 1 was cut" in j.cut


def test_gap_records_and_a_missing_journal(tmp_path):
    d = str(tmp_path / "j")
    gap = struct.pack("<QQ", 1, 2)
    write(d, [
        record(0, "handled", 10, 3, "Fill", b"{}", "json"),
        record(1, "gap", 10, 0, "journal writer", gap, "journal", origin=(6, 0, 0)),
        record(3, "handled", 20, 3, "Fill", b"{}", "json"),
    ])
    rows = journal.read(d)
    assert rows[1].kind == "gap"
    assert rows[1].payload == {"source": "journal writer", "first": 1, "count": 2}
    with pytest.raises(journal.JournalReadError, match="nothing-here"):
        journal.read(str(tmp_path / "nothing-here"))


def test_a_bad_json_payload_is_named(tmp_path):
    d = str(tmp_path / "j")
    write(d, [record(0, "handled", 10, 3, "Fill", b"{not json", "json")])
    with pytest.raises(journal.JournalCorrupt, match=r"record 0 \(Fill\)"):
        journal.read(d)
    assert json  # the module the reader parses with
