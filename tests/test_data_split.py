"""Train/val assignment (yolo_freq.data.split): the seeded stratified split, which keeps rare classes in both."""

from __future__ import annotations

from yolo_freq.data.records import Record
from yolo_freq.data.split import stratified_split


def test_stratified_split_is_seeded_and_keeps_rare_classes_in_both():
    items = [
        (Record(f"s{k}", f"n{k}", None), ["0 0.5 0.5 0.1 0.1"] + (["1 0.2 0.2 0.1 0.1"] if k % 10 == 0 else []))
        for k in range(100)
    ]
    items += [(Record(f"bg{k}", f"bg{k}", None), []) for k in range(10)]
    train, val = stratified_split(items, 0.2, seed=0)
    assert len(val) == 22 and len(train) == 88
    assert sum(1 for r, rows in val if any(row.startswith("1 ") for row in rows)) == 2  # the 10 rare images: 2 in val
    assert sum(1 for r, rows in val if not rows) == 2
    assert [r.name for r, _ in stratified_split(items[::-1], 0.2, seed=0)[1]] == [r.name for r, _ in val]
    assert [r.name for r, _ in stratified_split(items, 0.2, seed=1)[1]] != [r.name for r, _ in val]
    assert len(stratified_split(items[:2], 0.01, seed=0)[1]) == 1  # at least one val image
