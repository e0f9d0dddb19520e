"""`edge models train-verifier` and `edge models eval-lift`.

    edge models train-verifier --data DIR [--labels FILE] --out FILE [--detector FILE]
    edge models eval-lift --data DIR [--labels FILE] [--split DIR] [--verifier FILE]
    edge models synth-lift --data DIR [--labels FILE] --out DIR

`--data` may be repeated (e.g. the shared set and the feedback directory); the n-th `--labels`
goes with the n-th `--data`. Progress goes to stderr, figures to stdout. `--cache [DIR]` keeps
each view's features on disk (edge/verify/cache.py), so a second run skips the detector.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from edge.detect.onnx_yolo import ModelError
from edge.verify import synth
from edge.verify.cache import FeatureCache, default_dir
from edge.verify.candidates import CandidateParams
from edge.verify.dataset import (
    CLASSES,
    DatasetError,
    Fold,
    Item,
    check_folds,
    load_data,
    read_crop_folders,
    read_split,
    source_folds,
)
from edge.verify.evaluate import apply, cross_validate, summary
from edge.verify.extract import FeatureSource, ItemFeatures, extract_all
from edge.verify.graph import GraphError
from edge.verify.model_file import MODES, VerifierFileError, VerifierModel, check_detector
from edge.verify.report import print_report
from edge.verify.site import check_site, print_site_report
from edge.verify.train import TrainParams, fit_verifier

EXIT_OK, EXIT_INVALID, EXIT_REFUSED = 0, 2, 3
MODELS_ENV = "GRID_MODELS_DIR"
DEFAULT_DETECTOR = "yolov8n_int8.onnx"
_ERRORS = (DatasetError, VerifierFileError, ModelError, GraphError, FileNotFoundError)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _detector_path(args: argparse.Namespace) -> Path:
    if args.detector:
        return Path(args.detector).expanduser()
    models = args.models_dir or os.environ.get(MODELS_ENV)
    if not models:
        raise FileNotFoundError(f"give --detector FILE, or --models-dir / {MODELS_ENV}")
    return Path(models).expanduser() / DEFAULT_DETECTOR


def _items(args: argparse.Namespace) -> list[Item]:
    labels = list(args.labels or [])
    items: list[Item] = []
    for n, data in enumerate(args.data):
        label_file = Path(labels[n]) if n < len(labels) else None
        items += load_data(Path(data), label_file)
    if args.limit:
        items = _limited(items, args.limit)
    if not items:
        raise DatasetError("no labelled pictures found")
    return items


def _limited(items: Sequence[Item], per_source: int) -> list[Item]:
    """The first `per_source` evaluated pictures with and without an e-bike of each source
    (training-only views left out): a quick run that still has both kinds from everywhere."""
    seen: dict[tuple[str, bool], int] = {}
    out = []
    for it in items:
        key = (it.source, it.alarm)
        if it.kind.evaluated and seen.get(key, 0) < per_source:
            seen[key] = seen.get(key, 0) + 1
            out.append(it)
    return out


def _extract(
    source: FeatureSource, items: Sequence[Item], augment: bool, cache_dir: str | None
) -> list[ItemFeatures]:
    started = time.perf_counter()
    cache = None
    if cache_dir is not None:
        cache = FeatureCache(Path(cache_dir).expanduser(), source.sha256, CandidateParams())

    def progress(n: int, total: int, view_id: str) -> None:
        if n == 1 or n % 50 == 0 or n == total:
            took = time.perf_counter() - started
            _progress(f"features: {n}/{total} views ({took:.0f} s) {view_id}")

    _progress(f"detector {source.model_path.name}: maps {', '.join(source.spec.map_names)}")
    features = extract_all(source, items, augment=augment, progress=progress, cache=cache)
    if cache is not None:
        _progress(
            f"feature cache {cache.directory}: {cache.hits} views read, {cache.misses} computed"
        )
    return features


def _train_params(args: argparse.Namespace) -> TrainParams:
    return TrainParams(context=args.context)


def cmd_train(args: argparse.Namespace) -> int:
    if args.site_crops:
        return cmd_train_site(args)
    try:
        items = _items(args)
        source = FeatureSource(_detector_path(args), threads=args.threads)
        features = _extract(source, items, not args.no_augment, args.cache)
        info: dict[str, str | int | float] = {
            "pictures": len(items),
            "views": len(features),
            "sources": ",".join(sorted({it.source for it in items})),
            "augment": int(not args.no_augment),
        }
        model = fit_verifier(
            features,
            {it.id: it.alarm for it in items},
            source.spec,
            (source.model_path.name, source.sha256),
            params=_train_params(args),
            progress=_progress,
            info=info,
        ).with_decision(args.mode, args.threshold)
        model.save(Path(args.out))
    except _ERRORS as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB): {len(items)} pictures, mode {args.mode}")
    return EXIT_OK


def cmd_train_site(args: argparse.Namespace) -> int:
    """A site verifier: the general data plus the site's crops, checked (edge/verify/site.py)."""
    try:
        if not args.general:
            raise DatasetError("--site-crops needs --general FILE (the general verifier)")
        items = _items(args)
        site = read_crop_folders(Path(args.site_crops), source="site")
        if len(site) < 2:
            raise DatasetError(
                f"{args.site_crops}: fewer than 2 crops in class folders ({', '.join(CLASSES)})"
            )
        source = FeatureSource(_detector_path(args), threads=args.threads)
        general = VerifierModel.load(Path(args.general))
        check_detector(general, source.model_path, source.sha256)
        features = _extract(source, items, not args.no_augment, args.cache)
        site_features = _extract(source, site, not args.no_augment, args.cache)
        params = TrainParams(context=general.context)
        detector = (source.model_path.name, source.sha256)
        check = check_site(
            general,
            items,
            features,
            site=site,
            site_features=site_features,
            folds=_folds(args, items),
            spec=source.spec,
            detector=detector,
            params=params,
            progress=_progress,
        )
        print_site_report(check, general.threshold, sys.stdout)
        if not check.ok:
            print(
                "\n拒绝：站点验证器在通用评估上比通用验证器差，未写出文件。\n"
                "REFUSED: the site verifier is worse than the general one on the general "
                f"evaluation, so {args.out} was not written:\n  " + "\n  ".join(check.worse),
            )
            return EXIT_REFUSED
        alarm_of = {it.id: it.alarm for it in (*items, *site)}
        info: dict[str, str | int | float] = {
            "pictures": len(items),
            "site_crops": len(site),
            "general": Path(args.general).name,
        }
        model = fit_verifier(
            [*features, *site_features], alarm_of, source.spec, detector, params=params, info=info
        ).with_decision(general.mode, general.threshold)
        model.save(Path(args.out))
    except _ERRORS as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    print(
        f"wrote {args.out}: general data plus {len(site)} site crops; not worse on the "
        "general evaluation"
    )
    return EXIT_OK


def _folds(args: argparse.Namespace, items: Sequence[Item]) -> list[Fold]:
    given = getattr(args, "split", None)  # train-verifier has no --split: the default split
    split = Path(given) if given else None
    if split is None and args.labels:
        default = Path(args.labels[0]).parent / "splits" / "loso"
        split = default if default.is_dir() else None
    if split is None:
        return source_folds(items)
    folds = read_split(split)
    if args.limit:  # a subset: keep what was loaded
        known = {it.id for it in items}
        folds = [Fold(f.name, f.test_ids & known) for f in folds if f.test_ids & known]
    check_folds(items, folds)
    return folds


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        items = _items(args)
        source = FeatureSource(_detector_path(args), threads=args.threads)
        if args.verifier:
            model = VerifierModel.load(Path(args.verifier))
            check_detector(model, source.model_path, source.sha256)
            features = _extract(source, items, False, args.cache)
            scored = apply(model, items, features, "given")
            mode, threshold = model.mode, args.threshold or model.threshold
        else:
            folds = _folds(args, items)
            features = _extract(source, items, not args.no_augment, args.cache)
            mode, threshold = args.mode, args.threshold or 0.5
            scored = cross_validate(
                items,
                features,
                folds,
                source.spec,
                (source.model_path.name, source.sha256),
                params=_train_params(args),
                decision=(mode, threshold),
                progress=_progress,
                train_synthetic=not args.no_train_synthetic,
            )
    except _ERRORS as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    how = "the given verifier" if args.verifier else "leave-one-source-out"
    print(f"eval-lift: {how}, detector {source.model_path.name}, mode {mode}")
    print_report(scored, mode, threshold, args.stock_threshold, sys.stdout, files=not args.brief)
    if args.json:
        figures = summary(scored, threshold, args.stock_threshold)
        Path(args.json).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)  # a shared machine: inpainting and GrabCut need no second core
    try:
        items = _items(args)
        out = Path(args.out)
        if (out / "labels.csv").exists() and not args.force:
            raise DatasetError(f"{out}/labels.csv exists; pass --force to make the views again")
        backgrounds = synth.lift_backgrounds(items)
        _progress(f"synthetic: {len(backgrounds)} lift backgrounds, e-bikes painted out")
        cuts = synth.cutouts(items)
        kinds = sorted({c.label for c in cuts})
        counts = ", ".join(f"{k} {sum(1 for c in cuts if c.label == k)}" for k in kinds)
        _progress(f"synthetic: {len(cuts)} objects cut out ({counts})")
        made = synth.make_views(
            backgrounds, cuts, out, synth.SynthPlan(seed=args.seed), progress=_progress
        )
    except _ERRORS as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    alarms = sum(it.alarm for it in made)
    print(f"wrote {len(made)} synthetic lift views ({alarms} with an e-bike) to {out}")
    return EXIT_OK


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", required=True, help="data directory (repeatable)")
    p.add_argument("--labels", action="append", help="labels.csv for the n-th --data")
    p.add_argument(
        "--detector", help=f"detector ONNX file (default <models-dir>/{DEFAULT_DETECTOR})"
    )
    p.add_argument("--models-dir", help=f"directory of the models (env {MODELS_ENV})")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    p.add_argument(
        "--no-augment", action="store_true", help="no mirrored / zoomed / camera-scale views"
    )
    p.add_argument(
        "--cache",
        nargs="?",
        const=str(default_dir()),
        default=None,
        metavar="DIR",
        help=f"keep per-view features in DIR and reuse them (default DIR {default_dir()})",
    )
    p.add_argument("--mode", choices=MODES, default="combined", help="how a frame is decided")
    p.add_argument(
        "--context",
        action="store_true",
        help="also the context features (edge/verify/context.py; measured no better, so off)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=0,
        help="quick run: N pictures with and N without an e-bike per source",
    )


def register(models_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train-verifier` and `eval-lift` under `edge models`."""
    add: Callable[..., argparse.ArgumentParser] = models_subparsers.add_parser
    t = add("train-verifier", help="train the lift e-bike verifier on labelled pictures")
    _common(t)
    t.add_argument("--out", required=True, help="verifier file to write (.npz)")
    t.add_argument("--threshold", type=float, default=0.5, help="alarm threshold (default 0.5)")
    t.add_argument(
        "--site-crops",
        help="a site's feedback crops (class folders): train a site verifier, report before / "
        "after on them and refuse it if worse than --general on the general evaluation",
    )
    t.add_argument("--general", help="with --site-crops: the general verifier file")
    t.set_defaults(func=cmd_train)

    e = add("eval-lift", help="alarm-level recall and false alarms, verifier vs stock detector")
    _common(e)
    e.add_argument("--split", help="directory of <fold>.txt held-out lists (default: by source)")
    e.add_argument("--verifier", help="evaluate this trained file instead of cross-validating")
    e.add_argument("--threshold", type=float, default=None, help="alarm threshold")
    e.add_argument("--stock-threshold", type=float, default=0.3, help="stock rule (default 0.3)")
    e.add_argument("--json", help="also write the figures as JSON here")
    e.add_argument("--brief", action="store_true", help="no per-file lines")
    e.add_argument(
        "--no-train-synthetic",
        action="store_true",
        help="judge the synthetic views (--data of synth-lift) but never train on them",
    )
    e.set_defaults(func=cmd_eval)

    s = add("synth-lift", help="make synthetic lift views (objects pasted into lift frames)")
    s.add_argument("--data", action="append", required=True, help="data directory (repeatable)")
    s.add_argument("--labels", action="append", help="labels.csv for the n-th --data")
    s.add_argument("--out", required=True, help="directory for the views and their labels.csv")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--force", action="store_true", help="overwrite views made before")
    s.set_defaults(func=cmd_synth, limit=0)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edge.verify.cli train-verifier|eval-lift ...` (same as under `edge models`)."""
    parser = argparse.ArgumentParser(prog="edge models")
    register(parser.add_subparsers(dest="models_command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
