"""The one bounded cache of the views: pixmaps, icons and decoded images kept for the rows last shown.

A view over a folder of 100,000 photos paints each row once as the user
scrolls; caching every row's pixmap would keep gigabytes. Each cache holds
``limit`` entries and drops the least recently used one beyond that.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Iterator, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A mapping of at most ``limit`` entries; ``get`` and ``put`` make an entry the most recently used."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"an LRU cache keeps at least one entry, not {limit}")
        self.limit = limit  # a view may raise it (e.g. to two screens' worth); the next put trims to it
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        try:
            self._items.move_to_end(key)
        except KeyError:
            return default
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def pop(self, key: K, default: V | None = None) -> V | None:
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()

    def keys(self) -> list[K]:
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))


__all__ = ["LruCache"]
