"""What `edge models eval-lift` prints: figures side by side, confusions, per source, per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from edge.verify.dataset import CLASSES
from edge.verify.evaluate import (
    TRUTHS,
    Rule,
    Scored,
    confusion,
    label_confusion,
    rates,
    stock_rule,
    verifier_rule,
)

SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_ROWS = (
    ("recall", "e-bike present: alarm (recall)"),
    ("false_alarms", "no e-bike: alarm (false alarms)"),
    ("false_alarms_bicycle", "  bicycle"),
    ("false_alarms_stroller_or_wheelchair", "  stroller or wheelchair"),
    ("false_alarms_people_only", "  people only"),
    ("false_alarms_empty", "  empty car"),
    ("crop_recall", "object crops, e-bike: alarm"),
    ("crop_false_alarms", "object crops, other: alarm"),
)


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
    methods = _methods(mode, threshold, stock)
    table = [rates(scored, rule) for _, rule in methods]
    width = 30
    print(f"{'':34s}" + "".join(f"{name:>{width}s}" for name, _ in methods), file=out)
    for key, title in _ROWS:
        print(f"{title:34s}" + "".join(f"{t[key]!s:>{width}s}" for t in table), file=out)


def confusions(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    for name, rule in (
        (f"verifier >= {threshold:g}", verifier_rule(threshold)),
        (f"stock detector >= {stock:g}", stock_rule(stock)),
    ):
        print(f"\nconfusion, camera views, {name}:   alarm  no alarm", file=out)
        for truth, (hits, misses) in confusion(scored, rule).items():
            print(f"  {truth:32s} {hits:8d} {misses:9d}", file=out)
    print("\nwhat the best candidate looks like (camera views), truth x verifier class:", file=out)
    print(f"  {'':24s}" + "".join(f"{c:>24s}" for c in CLASSES), file=out)
    for truth, row in label_confusion(scored).items():
        print(f"  {truth:24s}" + "".join(f"{row[c]:24d}" for c in CLASSES), file=out)


def per_fold(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    print(
        "\nper held-out source:  recall verifier | stock    false alarms verifier | stock", file=out
    )
    for fold in sorted({s.fold for s in scored}):
        group = [s for s in scored if s.fold == fold]
        v = rates(group, verifier_rule(threshold))
        k = rates(group, stock_rule(stock))
        print(
            f"  {fold:16s} {v['recall']!s:>16s} | {k['recall']!s:>16s}   "
            f"{v['false_alarms']!s:>16s} | {k['false_alarms']!s:>16s}",
            file=out,
        )


def sweep(scored: Sequence[Scored], out: TextIO) -> None:
    print(
        "\nthreshold sweep (camera views): recall / false alarms on lift views without an e-bike"
        " (people only, empty, bicycle) / on wheelchairs and strollers",
        file=out,
    )
    print(f"  {'threshold':12s}" + "".join(f"{t:>18g}" for t in SWEEP), file=out)
    for which, name in (("score", "verifier"), ("box", "box only"), ("frame", "whole car")):
        cells = []
        for t in SWEEP:
            r = rates(scored, verifier_rule(t, which))
            lift = [r[f"false_alarms_{k}"] for k in ("people_only", "empty", "bicycle")]
            lift_pct = 100.0 * sum(x.hits for x in lift) / max(1, sum(x.total for x in lift))
            wheel = r["false_alarms_stroller_or_wheelchair"].pct
            cells.append(f"{r['recall'].pct:.0f} / {lift_pct:.0f} / {wheel:.0f}")
        print(f"  {name:12s}" + "".join(f"{c:>18s}" for c in cells), file=out)


def per_file(scored: Sequence[Scored], threshold: float, stock: float, out: TextIO) -> None:
    print("\nper file (fold = held-out source): ok = verifier verdict matches the truth", file=out)
    print(
        f"  {'ok':3s}{'fold':14s}{'truth':24s}{'stock':>6s}{'box':>6s}{'car':>6s}{'score':>7s}"
        f"  {'best box':24s}id",
        file=out,
    )
    for s in sorted(scored, key=lambda s: (s.fold, s.item.id)):
        alarm = s.score >= threshold
        ok = "ok" if alarm == s.item.alarm else "XX"
        stock_mark = "*" if s.stock >= stock else " "
        print(
            f"  {ok:3s}{s.fold:14s}{s.truth:24s}{s.stock:5.2f}{stock_mark}{s.box:6.2f}"
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
    views = [s for s in scored if s.view]
    print(
        f"\n{len(views)} camera views ({sum(s.item.alarm for s in views)} with an e-bike), "
        f"{len(scored) - len(views)} object crops; truths: "
        + ", ".join(f"{t} {sum(1 for s in views if s.truth == t)}" for t in TRUTHS),
        file=out,
    )
    side_by_side(scored, mode, threshold, stock, out)
    confusions(scored, threshold, stock, out)
    per_fold(scored, threshold, stock, out)
    sweep(scored, out)
    if files:
        per_file(scored, threshold, stock, out)
