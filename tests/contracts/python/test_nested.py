"""What contracts.yaml does not exercise, on tests/contracts/schemas/nested.yaml: the struct
nesting limit against hostile depth, and bytes beside list<u8>."""

import struct

import pytest

import nested
from nested import DecodeError, Node, Tree

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
