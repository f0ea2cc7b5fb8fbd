"""Generated code for tests/contracts/schemas/names.yaml, whose types share variant and
field names (and use the names of the runtime's own locals), keeps them apart."""

import names as n


def tree() -> n.Tree:
    leaf = n.Leaf(c=n.Color.Red, w=n.Shape.Round, v=5, what="x")
    inner = n.Branch(c=n.Shape.Round, mark=[], finished=leaf)
    return n.Tree(
        c=n.Branch(c=n.Shape.Unknown, mark=[inner]),
        tag=n.Kind.Ping,
        wire=[n.Color.Red, n.Color.Unknown],
        body=[[n.Shape.Round, n.Shape.Unknown], []],
        x=b"q",
    )


TEXT = (
    "Tree{c=Branch{c=Unknown, mark=[Branch{c=Round, mark=[], finished=some(Leaf{c=Red, "
    'w=Round, v=5, what="x"})}], finished=none}, tag=Ping, wire=[Red, Unknown], '
    'body=[[Round, Unknown], []], x=some(b"q")}'
)


def test_round_trip_and_text() -> None:
    frame, _ = n.decode_frame(tree().encode_frame())
    assert frame.message == tree()
    assert n.to_text(frame.message) == TEXT


def test_same_variant_name_in_two_enums() -> None:
    ping = n.Ping(c=n.Color.Unknown, v=-3)
    frame, _ = n.decode_frame(ping.encode_frame())
    assert frame.message.c is n.Color.Unknown
    assert n.to_text(frame.message) == "Ping{c=Unknown, v=-3}"
