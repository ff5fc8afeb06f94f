"""Train/val assignment: the source's official split where it has one, else a seeded stratified split."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

from .records import Record
from .report import ConversionReport

Item = tuple[Record, list[str]]  # a checked record and its YOLO label rows


def _order(item: Item) -> tuple[str, str]:
    return item[0].name, item[0].source


def stratified_split(items: list[Item], val: float, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Split images into train and val so that every class keeps about the same share in both.

    Each image is put in the stratum of its rarest class (by box count over all images; images without boxes form
    their own stratum), every stratum is shuffled with ``random.Random(seed)`` and contributes its share of val
    images, rounded by largest remainder so that val has ``round(len(items) * val)`` images in total (at least one,
    and at least one image stays in train, when there are two or more images).

    Args:
        items (list[Item]): Checked records with their label rows.
        val (float): Fraction of images for val, 0 <= val < 1.
        seed (int): Seed of the shuffle; the same items and seed give the same split on any machine.

    Returns:
        (tuple[list[Item], list[Item]]): Train and val items, each in name order.
    """
    frequency = Counter(row.split()[0] for _, rows in items for row in rows)
    strata = defaultdict(list)
    for item in sorted(items, key=_order):
        classes = {row.split()[0] for row in item[1]}
        strata[min(classes, key=lambda c: (frequency[c], int(c))) if classes else "background"].append(item)
    n = len(items)
    n_val = round(n * val)
    if val > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    keys = sorted(strata, key=str)
    share = {k: len(strata[k]) * n_val / n for k in keys} if n else {}
    quota = {k: math.floor(share[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (-(share[k] - quota[k]), str(k)))[: n_val - sum(quota.values())]:
        quota[k] += 1
    rng = random.Random(seed)
    train, val_items = [], []
    for k in keys:
        members = strata[k][:]
        rng.shuffle(members)
        val_items += members[: quota[k]]
        train += members[quota[k] :]
    return sorted(train, key=_order), sorted(val_items, key=_order)


def assign_splits(items: list[Item], val: float, seed: int, report: ConversionReport) -> dict[str, list[Item]]:
    """Decide train/val(/test) for checked records and say in the report which rule was used.

    The source's official split (split lists, split-named files or folders) is used when it has a train part;
    records outside it are reported and skipped. An official test split without a val split becomes val (DeepPCB:
    trainval -> train, test -> val). Where no val remains, val is drawn from train with :func:`stratified_split`.

    Args:
        items (list[Item]): Checked records with their label rows.
        val (float): Fraction for a drawn val split.
        seed (int): Seed for a drawn val split.
        report (ConversionReport): Receives the rule used and records outside the official split.

    Returns:
        (dict[str, list[Item]]): ``train`` and ``val`` (maybe empty when ``val`` is 0), and ``test`` where the
            source has both val and test.
    """
    official = Counter(r.split for r, _ in items if r.split)
    if official and not official["train"]:
        report.notes.append(
            f"the source's split names ({', '.join(sorted(official))}) have no train part; "
            "ignored, all images split anew"
        )
        for r, _ in items:
            r.split = None
        official = Counter()
    if not official:
        train, val_items = stratified_split(items, val, seed)
        report.notes.append(
            f"no official split in the source: val = {len(val_items)} of {len(items)} images "
            f"({val:.0%} requested), stratified by each image's rarest class, seed {seed}"
        )
        return {"train": train, "val": val_items}

    splits = {"train": [], "val": [], "test": []}
    for r, rows in items:
        if r.split is None:
            report.add(
                "not_in_split",
                r.source,
                f"the source has an official split ({', '.join(sorted(official))}) that does not name it",
            )
        else:
            splits[r.split].append((r, rows))
    if not splits["val"] and splits["test"]:
        splits["val"], splits["test"] = splits["test"], []
        report.notes.append(
            f"official split used: train {len(splits['train'])}, official test -> val {len(splits['val'])}"
        )
    elif splits["val"]:
        report.notes.append("official split used: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items() if v))
    else:
        train, val_items = stratified_split(splits["train"], val, seed)
        splits["train"], splits["val"] = train, val_items
        report.notes.append(
            f"official split has train only: val = {len(val_items)} of its {len(train) + len(val_items)} images "
            f"({val:.0%} requested), stratified by each image's rarest class, seed {seed}"
        )
    if not splits["test"]:
        del splits["test"]
    return splits
