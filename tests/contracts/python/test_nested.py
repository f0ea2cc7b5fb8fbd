"""What contracts.yaml does not exercise, on tests/contracts/schemas/nested.yaml: the struct
nesting limit against hostile depth, and bytes beside list<u8>."""

import struct
import sys

import pytest

import nested
from nested import Bush, DecodeError, Node, Thicket, Tree

U32 = struct.Struct("<I")


def key(tag: int, wire: int) -> bytes:
    return struct.pack("<H", (tag << 3) | wire)


def len_value(payload: bytes) -> bytes:
    return U32.pack(len(payload)) + payload


def chain(depth: int) -> Node:
    """`depth` nodes, each the only child of the one above."""
    node = Node(label=depth, children=[])
    for label in range(depth - 1, 0, -1):
        node = Node(label=label, children=[node])
    return node


def test_structs_nest_up_to_max_depth() -> None:
    tree = Tree(root=chain(nested.MAX_DEPTH), blob=b"")
    assert Tree.decode(tree.encode()) == tree


def test_one_level_deeper_is_too_deep() -> None:
    body = Tree(root=chain(nested.MAX_DEPTH + 1), blob=b"").encode()
    with pytest.raises(DecodeError) as info:
        Tree.decode(body)
    assert info.value.kind == "TooDeep"


def test_hostile_depth_is_refused_without_exhausting_the_stack() -> None:
    node = key(1, 2) + U32.pack(0)
    for _ in range(5000):
        node = key(1, 2) + U32.pack(0) + key(2, 4) + len_value(U32.pack(1) + len_value(node))
    body = key(1, 4) + len_value(node) + key(2, 4) + len_value(b"")
    with pytest.raises(DecodeError) as info:
        Tree.decode(body)
    assert info.value.kind == "TooDeep"


LIST_LEVELS = 8
"""How many lists `Bush.kids` nests."""


def bush(depth: int) -> Bush:
    """`depth` bushes, each the only one in the innermost list of the one above."""
    node = Bush(label=depth, kids=[])
    for label in range(depth - 1, 0, -1):
        kids = [node]
        for _ in range(LIST_LEVELS - 1):
            kids = [kids]
        node = Bush(label=label, kids=kids)
    return node


def bush_body(depth: int) -> bytes:
    """A Thicket body holding `depth` bushes, built by hand (any depth, no recursion)."""
    node = key(1, 2) + U32.pack(0) + key(2, 4) + len_value(U32.pack(0))
    for _ in range(depth - 1):
        kids = len_value(node)
        for _ in range(LIST_LEVELS):
            kids = len_value(U32.pack(1) + kids)
        node = key(1, 2) + U32.pack(0) + key(2, 4) + kids
    return key(1, 4) + len_value(node)


def test_structs_nesting_lists_of_lists_decode_up_to_max_depth() -> None:
    thicket = Thicket(root=bush(nested.MAX_DEPTH))
    Thicket.decode(bush_body(nested.MAX_DEPTH))
    assert Thicket.decode(thicket.encode()) == thicket


def test_structs_nesting_lists_of_lists_past_max_depth_are_too_deep() -> None:
    # Each level is a struct inside eight lists: ten interpreter frames, which used to
    # reach Python's recursion limit before the 64 levels of TooDeep.
    with pytest.raises(DecodeError) as info:
        Thicket.decode(bush_body(nested.MAX_DEPTH + 40))
    assert info.value.kind == "TooDeep"


def test_a_decode_past_the_recursion_limit_is_a_decode_error() -> None:
    body = bush_body(40)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        with pytest.raises(DecodeError) as info:
            Thicket.decode(body)
    finally:
        sys.setrecursionlimit(limit)
    assert info.value.kind == "StackLimit"
    assert "recursion limit" in info.value.detail


def test_bytes_and_list_of_u8_print_differently() -> None:
    tree = Tree(root=Node(label=1, children=[]), blob=b"\x01\x02", small=[1, 2])
    assert nested.to_text(tree) == (
        'Tree{root=Node{label=1, children=[]}, blob=b"\\x01\\x02", small=some([1, 2])}'
    )
    assert Tree.decode(tree.encode()) == tree


def test_list_of_u8_over_max_len() -> None:
    body = Tree(root=Node(label=1, children=[]), blob=b"").encode()
    body += key(3, 4) + len_value(U32.pack(5) + bytes(5))
    with pytest.raises(DecodeError) as info:
        Tree.decode(body)
    assert info.value.kind == "LengthMismatch"
