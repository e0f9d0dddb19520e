"""A site's own verifier: the general recipe plus the site's feedback crops, checked twice.

    edge models train-verifier --data ../shared/datasets/ebike_lift \
        --labels datasets/ebike_lift/labels.csv --site-crops var/verifier/feedback \
        --general models/verifier/ebike_lift_v1.npz --out var/verifier/site_v1.npz

1. Before / after on the site's own crops: before is the general verifier file; after is the
   recipe trained with the site's crops, each crop judged by a fit that did not see it (the
   crops in two halves, each half judged by a fit on the other half).
2. The general evaluation, leave-one-source-out on the general data, with and without the
   site's crops added to every training fold. If the site verifier is worse there on any
   figure (recall on real lift views, or false alarms on any negative class, real lift views
   or photos elsewhere), it is refused: nothing is written and the command says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from edge.verify.dataset import Fold, Item
from edge.verify.evaluate import (
    NEGATIVES,
    Rate,
    Scored,
    apply,
    cross_validate,
    rates,
    verifier_rule,
)
from edge.verify.extract import ItemFeatures
from edge.verify.features import FeatureSpec
from edge.verify.model_file import VerifierModel
from edge.verify.train import TrainParams, fit_verifier

Progress = Callable[[str], None]
CHECKED = ("lift", "other")
"""The groups whose figures a site verifier must not make worse."""


@dataclass(frozen=True, slots=True)
class SiteCheck:
    before: list[Scored]
    after: list[Scored]
    general: dict[str, dict[str, Rate]]
    site: dict[str, dict[str, Rate]]
    worse: list[str]

    @property
    def ok(self) -> bool:
        return not self.worse


def _halves(site: Sequence[Item]) -> list[Fold]:
    ids = sorted(it.id for it in site)
    return [Fold("site_a", frozenset(ids[0::2])), Fold("site_b", frozenset(ids[1::2]))]


def _by_group(scored: Sequence[Scored], threshold: float) -> dict[str, dict[str, Rate]]:
    rule = verifier_rule(threshold)
    return {g: rates(scored, rule, g) for g in CHECKED}


def worse_figures(
    general: dict[str, dict[str, Rate]], site: dict[str, dict[str, Rate]]
) -> list[str]:
    """Each figure where the site recipe does worse than the general one (counts, same set)."""
    out = []
    for group in CHECKED:
        g, s = general[group], site[group]
        if s["recall"].hits < g["recall"].hits:
            out.append(f"{group} recall {s['recall']} < {g['recall']}")
        for truth in NEGATIVES:
            key = f"false_alarms_{truth}"
            if s[key].hits > g[key].hits:
                out.append(f"{group} false alarms on {truth} {s[key]} > {g[key]}")
    return out


def check_site(
    general_model: VerifierModel,
    items: Sequence[Item],
    features: Sequence[ItemFeatures],
    *,
    site: Sequence[Item],
    site_features: Sequence[ItemFeatures],
    folds: Sequence[Fold],
    spec: FeatureSpec,
    detector: tuple[str, str],
    params: TrainParams,
    progress: Progress | None = None,
) -> SiteCheck:
    decision = (general_model.mode, general_model.threshold)
    before = apply(general_model, site, site_features, "general")
    alarm_of = {it.id: it.alarm for it in (*items, *site)}
    after: list[Scored] = []
    for half in _halves(site):
        train = [f for f in (*features, *site_features) if f.item_id not in half.test_ids]
        model = fit_verifier(train, alarm_of, spec, detector, params=params)
        held = [it for it in site if it.id in half.test_ids]
        after += apply(model.with_decision(*decision), held, site_features, half.name)
    if progress is not None:
        progress("site check: general evaluation without the site's crops")
    general = cross_validate(
        items, features, folds, spec, detector, params=params, decision=decision
    )
    if progress is not None:
        progress("site check: general evaluation with the site's crops in every training fold")
    with_site = cross_validate(
        [*items, *site],
        [*features, *site_features],
        folds,
        spec,
        detector,
        params=params,
        decision=decision,
    )
    g, s = _by_group(general, decision[1]), _by_group(with_site, decision[1])
    return SiteCheck(before, after, g, s, worse_figures(g, s))


def print_site_report(check: SiteCheck, threshold: float, out: TextIO) -> None:
    rule = verifier_rule(threshold)
    b, a = rates(check.before, rule), rates(check.after, rule)
    print("\nSITE CROPS (the site's own feedback; after = judged by a fit without it)", file=out)
    print(f"{'':36s}{'before (general file)':>30s}{'after (site recipe)':>30s}", file=out)
    for key, title in (
        ("crop_recall", "e-bike crops: alarm"),
        ("crop_false_alarms", "other crops: alarm (false alarms)"),
    ):
        print(f"{title:36s}{b[key]!s:>30s}{a[key]!s:>30s}", file=out)
    print("\nGENERAL EVALUATION (leave-one-source-out, real pictures)", file=out)
    print(f"{'':36s}{'general recipe':>30s}{'with the site crops':>30s}", file=out)
    for group in CHECKED:
        for key in ("recall", *(f"false_alarms_{t}" for t in NEGATIVES)):
            g, s = check.general[group][key], check.site[group][key]
            if g.total:
                print(f"{group + ' ' + key:36s}{g!s:>30s}{s!s:>30s}", file=out)
