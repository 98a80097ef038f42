"""The views' one bounded cache."""

from __future__ import annotations

import pytest

from cvstudio.gui.lru import LruCache


def test_the_least_recently_used_entry_goes_first():
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache and cache.keys() == ["a", "c"]
    assert cache.get("b") is None and cache.get("b", 0) == 0  # a miss changes nothing
    assert len(cache) == 2


def test_putting_a_key_again_replaces_it_and_a_lower_limit_trims_on_the_next_put():
    cache: LruCache[int, str] = LruCache(3)
    for k in range(3):
        cache.put(k, str(k))
    cache.put(0, "zero")
    assert cache.keys() == [1, 2, 0] and cache.get(0) == "zero"
    cache.limit = 1
    cache.put(5, "five")
    assert cache.keys() == [5]
    assert cache.pop(5) == "five" and cache.pop(5) is None and not cache


def test_iterating_allows_popping_and_clear_empties():
    cache: LruCache[tuple[int, int], str] = LruCache(10)
    for k in range(4):
        cache.put((k % 2, k), "x")
    for key in cache:
        if key[0] == 0:
            cache.pop(key)
    assert cache.keys() == [(1, 1), (1, 3)]
    cache.clear()
    assert len(cache) == 0


def test_a_cache_keeps_at_least_one_entry():
    with pytest.raises(ValueError):
        LruCache(0)
