"""Walking a graph without recursion: a model's depth is its author's choice, not Python's stack limit."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def closure(start: Iterable[T], follow: Callable[[T], Iterable[T]]) -> list[T]:
    """Everything reachable from ``start`` through ``follow``, each once, in the order it is first taken."""
    todo, seen, out = list(start), set(), []
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        out.append(item)
        todo += follow(item)
    return out
