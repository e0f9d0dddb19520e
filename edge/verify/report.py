"""What `edge models eval-lift` prints: figures side by side, confusions, per source, per file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TextIO

from edge.verify.dataset import CLASSES
from edge.verify.evaluate import (
    GROUPS,
    NEGATIVES,
    SCORES,
    TRUTHS,
    Rule,
    Scored,
    confusion,
    label_confusion,
    rates,
    separability,
    stock_rule,
    verifier_rule,
)

SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_ROWS = (
    ("recall", "e-bike present: alarm (recall)"),
    ("false_alarms", "no e-bike: alarm (false alarms)"),
    *((f"false_alarms_{t}", f"  {t.replace('_', ' ')}") for t in NEGATIVES),
)
_CROP_ROWS = (
    ("crop_recall", "object crops, e-bike: alarm"),
    ("crop_false_alarms", "object crops, other: alarm"),
)
TITLES = {
    "lift": "REAL LIFT VIEWS (the figures that count; [95 % Wilson interval])",
    "other": "REAL PHOTOS TAKEN ELSEWHERE (web photos; not lifts)",
    "synthetic": "SYNTHETIC LIFT VIEWS (made here, apart: never a lift the verifier has not seen)",
}


def _methods(mode: str, threshold: float, stock: float) -> list[tuple[str, Rule]]:
    return [
        (f"stock detector >= {stock:g}", stock_rule(stock)),
        (f"verifier ({mode}) >= {threshold:g}", verifier_rule(threshold)),
        (f"box only >= {threshold:g}", verifier_rule(threshold, "box")),
        (f"whole car only >= {threshold:g}", verifier_rule(threshold, "frame")),
    ]


def side_by_side(
    scored: Sequence[Scored], mode: str, threshold: float, stock: float, out: TextIO
) -> None:
    """One table per group (real lift views, real photos elsewhere, synthetic), then crops."""
    methods = _methods(mode, threshold, stock)
    width = 30
    for group in GROUPS[:3]:
        if not any(s.group == group for s in scored):
            continue
        table = [rates(scored, rule, group) for _, rule in methods]
        print(f"\n{TITLES[group]}", file=out)
        print(f"{'':34s}" + "".join(f"{name:>{width}s}" for name, _ in methods), file=out)
        for key, title in _ROWS:
            print(f"{title:34s}" + "".join(f"{t[key]!s:>{width}s}" for t in table), file=out)
    if any(s.group == "crop" for s in scored):
        table = [rates(scored, rule) for _, rule in methods]
        print("\nOBJECT CROPS (lift CCTV crops; not camera views)", file=out)
        for key, title in _CROP_ROWS:
            print(f"{title:34s}" + "".join(f"{t[key]!s:>{width}s}" for t in table), file=out)


def separabilities(scored: Sequence[Scored], out: TextIO) -> None:
    """AUC per negative class and group: whether a score tells the classes apart at all."""
    print(
        "\nseparability: AUC of e-bike views against each class (0.5 = cannot tell them apart,"
        " 1 = always can; no threshold)",
        file=out,
    )
    for group in GROUPS[:3]:
        if not any(s.group == group and s.view for s in scored):
            continue
        table = {name: separability(scored, which, group) for name, which in SCORES}
        print(f"  {group:26s}" + "".join(f"{name:>16s}" for name in table), file=out)
        for truth in NEGATIVES:
            cells = [table[name][truth] for name in table]
            if all(math.isnan(c) for c in cells):  # no view of this class in the group
                continue
            n = sum(1 for s in scored if s.view and s.group == group and s.truth == truth)
            name = f"{truth} ({n} views)"
            print(f"    {name:24s}" + "".join(f"{c:16.3f}" for c in cells), file=out)


def confusions(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    for name, rule in (
        (f"verifier >= {threshold:g}", verifier_rule(threshold)),
        (f"stock detector >= {stock:g}", stock_rule(stock)),
    ):
        print(f"\nconfusion, real camera views, {name}:   alarm  no alarm", file=out)
        for truth, (hits, misses) in confusion(scored, rule).items():
            print(f"  {truth:32s} {hits:8d} {misses:9d}", file=out)
    print(
        "\nwhat the best candidate looks like (real camera views), truth x verifier class:",
        file=out,
    )
    print(f"  {'':24s}" + "".join(f"{c:>24s}" for c in CLASSES), file=out)
    for truth, row in label_confusion(scored).items():
        print(f"  {truth:24s}" + "".join(f"{row[c]:24d}" for c in CLASSES), file=out)


def per_fold(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    print(
        "\nper held-out source:  recall verifier | stock    false alarms verifier | stock", file=out
    )
    for fold in sorted({s.fold for s in scored}):
        group = [s for s in scored if s.fold == fold and s.group != "synthetic"]
        v = rates(group, verifier_rule(threshold))
        k = rates(group, stock_rule(stock))
        print(
            f"  {fold:16s} {v['recall']!s:>16s} | {k['recall']!s:>16s}   "
            f"{v['false_alarms']!s:>16s} | {k['false_alarms']!s:>16s}",
            file=out,
        )


def sweep(scored: Sequence[Scored], out: TextIO) -> None:
    print(
        "\nthreshold sweep: recall on real lift views / false alarms on real lift views without"
        " an e-bike / on real bicycle+child's bicycle photos elsewhere / on wheelchair photos",
        file=out,
    )
    print(f"  {'threshold':12s}" + "".join(f"{t:>20g}" for t in SWEEP), file=out)
    for which, name in (("score", "verifier"), ("box", "box only"), ("frame", "whole car")):
        cells = []
        for t in SWEEP:
            lift = rates(scored, verifier_rule(t, which), "lift")
            other = rates(scored, verifier_rule(t, which), "other")
            bikes = [other[f"false_alarms_{k}"] for k in ("bicycle", "child_bicycle")]
            bike_pct = 100.0 * sum(x.hits for x in bikes) / max(1, sum(x.total for x in bikes))
            cells.append(
                f"{lift['recall'].pct:.0f} / {lift['false_alarms'].pct:.0f} / {bike_pct:.0f}"
                f" / {other['false_alarms_wheelchair'].pct:.0f}"
            )
        print(f"  {name:12s}" + "".join(f"{c:>20s}" for c in cells), file=out)


def per_file(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    print("\nper file (fold = held-out source): ok = verifier verdict matches the truth", file=out)
    print(
        f"  {'ok':3s}{'fold':14s}{'group':10s}{'truth':16s}{'stock':>6s}{'box':>6s}{'car':>6s}"
        f"{'score':>7s}  {'best box':24s}id",
        file=out,
    )
    for s in sorted(scored, key=lambda s: (s.fold, s.item.id)):
        alarm = s.score >= threshold
        ok = "ok" if alarm == s.item.alarm else "XX"
        stock_mark = "*" if s.stock >= stock else " "
        print(
            f"  {ok:3s}{s.fold:14s}{s.group:10s}{s.truth:16s}{s.stock:5.2f}{stock_mark}{s.box:6.2f}"
            f"{s.frame:6.2f}{s.score:7.2f}  {s.label:24s}{s.item.id}",
            file=out,
        )


def print_report(
    scored: Sequence[Scored],
    mode: str,
    threshold: float,
    stock: float,
    out: TextIO,
    *,
    files: bool = True,
) -> None:
    for group in GROUPS:
        views = [s for s in scored if s.group == group]
        if views:
            print(
                f"{group}: {len(views)} pictures; "
                + ", ".join(f"{t} {sum(1 for s in views if s.truth == t)}" for t in TRUTHS),
                file=out,
            )
    side_by_side(scored, mode, threshold, stock, out)
    separabilities(scored, out)
    confusions(scored, threshold, stock, out)
    per_fold(scored, threshold, stock, out)
    sweep(scored, out)
    if files:
        per_file(scored, threshold, stock, out)
