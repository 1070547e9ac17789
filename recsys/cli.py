"""Command line: `python -m recsys <command>`; --json prints the response formats."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_ARTIFACTS = os.environ.get("RECSYS_ARTIFACTS", "artifacts")
SHOWN_SUSPECTS = 8


def _print(obj: Any, as_json: bool) -> None:
    import pandas as pd

    if as_json:
        if isinstance(obj, pd.DataFrame):
            obj = obj.to_dict(orient="records")
        print(json.dumps(obj, indent=2, default=str))
    elif isinstance(obj, pd.DataFrame):
        print(obj.to_string(index=False))
    elif isinstance(obj, dict):
        print("\n".join(_dict_lines(obj)))
    else:
        print(obj)


def _human(value: Any) -> str:
    """A value for people: thousands separators, two decimals, lists joined; --json keeps it raw."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return f"{v:,.2f}" if v == 0 or abs(v) >= 1 else f"{v:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_human(v) for v in value)
    return "—" if value is None else str(value)


def _dict_lines(d: dict, indent: str = "") -> list[str]:
    """Aligned 'key  value' lines; a dict of dicts (per-segment figures) as a small table."""
    import pandas as pd

    width = max((len(str(k)) for k in d), default=0)
    lines = []
    for key, value in d.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            table = pd.DataFrame.from_dict(value, orient="index").map(_human)
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  {row}" for row in table.to_string().splitlines()]
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _dict_lines(value, indent + "  ")
        else:
            lines.append(f"{indent}{str(key):<{width}}  {_human(value)}")
    return lines


def _progress(stage: str, fraction: float, message: str) -> None:
    if fraction >= 1.0 or fraction == 0.0:
        print(f"[{stage:>17}] {message}", file=sys.stderr, flush=True)


def _load(args: argparse.Namespace):
    from recsys.bundles.configs import resolve_config
    from recsys.serving.service import Recommender

    rec = Recommender.load(args.artifacts)
    if getattr(args, "config", None):
        # a saved name or a TOML file, over the trained config; refused when it needs a retrain
        rec = rec.with_config(resolve_config(args.artifacts, args.config, rec.config).config)
    return rec


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    """load/clean options from --columns, --dayfirst/--monthfirst, --sheet, --catalogue, --exclude-items."""
    from recsys.io.source_files import parse_columns_option

    options: dict[str, Any] = {}
    if args.columns:
        mapping = parse_columns_option(args.columns)
        options["column_map"] = mapping.columns
        if mapping.dates != "auto":
            options["dates"] = mapping.dates
        folder = Path(args.columns).expanduser().parent
        if mapping.catalogue_path(folder) is not None:
            options["catalogue"] = mapping.catalogue_path(folder)
        if mapping.catalogue_columns:
            options["catalogue_columns"] = mapping.catalogue_columns
        if mapping.sheet:
            options["sheet"] = mapping.sheet
    if args.sheet:
        options["sheet"] = args.sheet
    if args.dates:
        options["dates"] = args.dates
    if args.catalogue:
        options["catalogue"] = args.catalogue
    if args.exclude_items:
        options["exclude_items"] = args.exclude_items
    if options and not args.data:
        raise ValueError("--columns, --dayfirst/--monthfirst, --sheet, --catalogue and --exclude-items need --data")
    return options


def _report_import(report) -> None:
    """What the import and the cleaning did (before any model is fitted), then the warnings and
    the items left out as non-products with their evidence on stderr."""
    from recsys.io.cleaning_report import summary_text

    as_dict = report.to_dict()
    print(summary_text({k: v for k, v in as_dict.items() if k not in ("suspects", "warnings")}), flush=True)
    for warning in as_dict.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    suspects = as_dict.get("suspects", [])
    if suspects:
        print(f"non-product codes: {sum(s['excluded'] for s in suspects)} excluded, "
              f"{sum(not s['excluded'] for s in suspects)} kept ('!id' in an --exclude-items file keeps one, "
              "an id excludes one)", file=sys.stderr)
    for s in suspects[:SHOWN_SUSPECTS]:
        print(f"  {s['item_id']} ({'excluded' if s['excluded'] else 'kept'}, {s['lines']:,} lines): {s['evidence']}",
              file=sys.stderr)
    if len(suspects) > SHOWN_SUSPECTS:
        print(f"  ... and {len(suspects) - SHOWN_SUSPECTS} more (the cleaning report in the bundle lists all)",
              file=sys.stderr)
    sys.stderr.flush()


def cmd_train(args: argparse.Namespace) -> int:
    from recsys.config import TuningConfig
    from recsys.training.runner import train

    config = TuningConfig.load(args.config) if args.config else None
    options = _data_options(args)
    if args.engine == "spark":
        from recsys.training.spark import require_pyspark, train_spark

        require_pyspark()  # before anything is written (the demo store's Parquet file below)
        trained = train_spark(args.data or _demo_path(), config=config, out_dir=args.artifacts,
                              master=args.spark_master, progress=_progress, on_import=_report_import, **options)
    else:
        data = args.data if args.data else _demo_frame()
        trained = train(data, config=config, out_dir=args.artifacts, progress=_progress, on_import=_report_import,
                        **options)
    t = trained.metadata.get("timings_s", {})
    summary = trained.state.summary
    guests = f" and {summary['guest_lines']:,} guest lines" if summary.get("guest_lines") else ""
    print(f"trained on {summary['lines']:,} lines{guests}, {trained.state.n_users:,} users, "
          f"{trained.state.n_items:,} items in {t.get('total', 0):.2f} s; bundle in {args.artifacts}")
    note = str(trained.metadata.get("default_lists", ""))
    if note.startswith("pending") and not args.no_precompute:
        # the bundle is published and served (live path) already; the lists join it when done
        print(f"precomputing every customer's default list ({trained.state.n_users:,} customers; the bundle "
              "is served meanwhile, Ctrl-C leaves it without them)", file=sys.stderr, flush=True)
        return _precompute(args.artifacts)
    if note.startswith("not precomputed"):
        print(f"default lists {note}", file=sys.stderr)
    return 0


def _precompute(artifacts: str) -> int:
    import time

    from recsys.serving.default_lists import precompute_default_lists

    t0 = time.perf_counter()
    shown = [-1]

    def tenths(fraction: float, message: str) -> None:  # a line per tenth: big stores take minutes
        if int(fraction * 10) > shown[0]:
            shown[0] = int(fraction * 10)
            print(f"[    default_lists] {message}", file=sys.stderr, flush=True)

    lists = precompute_default_lists(artifacts, progress=tenths)
    if lists is None:
        print("default lists not computed: the live bundle changed meanwhile, or its default knobs filter "
              "(every request takes the live path)", file=sys.stderr)
        return 0
    print(f"default lists of {lists.items.shape[0]:,} customers ({lists.n} items each) stored beside the bundle in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_precompute(args: argparse.Namespace) -> int:
    """Every customer's list under the default knobs, stored beside the live bundle."""
    return _precompute(args.artifacts)


def _demo_frame():
    from recsys.io.synthetic import demo_store

    return demo_store()


def _demo_path() -> str:
    path = Path(DEFAULT_ARTIFACTS).parent / "data" / "demo_store.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_parquet(_demo_frame(), path)
    return str(path)


def _write_parquet(df, path: Path) -> None:
    import io

    from recsys.atomic import atomic_write_bytes

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def cmd_recommend(args: argparse.Namespace) -> int:
    rec = _load(args)
    res = rec.recommend(args.user_id, n=args.n, model=args.model, timestamp=args.timestamp,
                        exclude_purchased=args.exclude_purchased, price_min=args.price_min, price_max=args.price_max)
    if args.json:
        _print(res.to_dict(), True)
    else:
        info = res.user_info
        print(f"user {res.user_id} ({info['user_type']}, {info['spending_segment']} spender), model {res.primary_model}"
              f"{' (fallback: popular items)' if res.fallback_used else ''}, {res.processing_time_ms:.1f} ms")
        _print(res.to_frame().drop(columns=["score_breakdown"]), False)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    rec = _load(args)
    res = rec.similar_items(args.item_id, n=args.n, model=args.model)
    if args.json:
        _print(res.to_dict(), True)
    else:
        import pandas as pd

        print(_item_heading(rec, args.item_id, f"items similar to it ({res.model})"))
        _print(_without_empty(pd.DataFrame(res.similar_items), ("item_name", "category")), False)
    return 0


def _item_heading(rec, item_id: str, what: str) -> str:
    """'item 123 (Milk · Dairy): what', the name and category where the data has them."""
    code = rec.item_code(item_id)
    name, category = (str(rec.state.items[c].iloc[code]) if c in rec.state.items else "" for c in ("item_name", "category"))
    known = " · ".join(v for v in (name, category) if v)
    return f"item {item_id}{f' ({known})' if known else ''}: {what}"


def _without_empty(frame, columns: tuple[str, ...]):
    """The frame without those of `columns` that are empty on every row (a store without names)."""
    empty = [c for c in columns if c in frame and frame[c].astype(str).eq("").all()]
    return frame.drop(columns=empty)


def cmd_popular(args: argparse.Namespace) -> int:
    _print(_load(args).popular_items(n=args.n, segment=args.segment), args.json)
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    _print(_load(args).user_profile(args.user_id), args.json)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    _print(_load(args).stats(), args.json)
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    if args.export:
        from recsys.io.synthetic_export import generate_export

        df, facts = generate_export(n_customers=args.users, n_items=args.items, n_lines=args.lines, seed=args.seed)
        note = (f" (a web shop's export: {facts.guest_lines:,} guest lines, postage and fees in three languages, "
                f"{facts.cancellation_lines:,} cancellation lines)")
    else:
        from recsys.io.synthetic import generate_store

        df, note = generate_store(n_users=args.users, n_items=args.items, n_lines=args.lines, seed=args.seed,
                                  names=True), ""
    out = Path(args.out)
    if out.suffix in (".parquet", ".pq"):
        _write_parquet(df, out)
    else:
        from recsys.atomic import atomic_write_text

        atomic_write_text(out, df.to_csv(index=False))
    print(f"wrote {len(df):,} lines to {out}{note}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsys.analysis.report import build_report
    from recsys.evaluation.protocol import format_table

    options = _data_options(args)
    data = args.data
    if options:  # read and clean here: the report then takes the frame
        from recsys.io.cleaning import clean_transactions
        from recsys.io.loading import load_transactions

        exclude = options.pop("exclude_items", None)
        data = clean_transactions(load_transactions(args.data, **options), exclude_items=exclude)[0]
    rep = build_report(data, test_days=args.test_days, k=tuple(args.k), sweeps=(),
                       progress=lambda m, f: print(f"[evaluate] {m}", file=sys.stderr, flush=True))
    if args.json:
        _print({"table": rep.table.to_dict(orient="records"), "significance": rep.significance.to_dict(orient="records"),
                "calibration": {"ece": rep.ece, "reliability": rep.reliability.to_dict(orient="records")},
                "by_segment": rep.by_segment.to_dict(orient="records"), "info": rep.info}, True)
        return 0
    fit = rep.info.get("hybrid_fit")
    if fit:
        from recsys.serving.evidence import validation_frame, weights_frame

        print(f"The hybrid fitted to this store's training data ({fit['method']}; "
              f"repeat share of the validation window {fit['repeat_share']:.0%}):")
        print(weights_frame(fit).to_string(float_format=lambda v: f"{v:.3f}"))
        print("\nValidation window inside the training data, NDCG@10 (hybrid cross-validated over customers):")
        print(validation_frame(fit).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\nTest window (read once, after the fit):")
    print(format_table(rep.table))
    print("\nHybrid against each model, NDCG@10, paired bootstrap (95% CI):")
    print(format_table(rep.significance))
    print(f"\nConfidence calibration of the hybrid's top-10 (loyal test window): ECE = {rep.ece:.3f}")
    print(format_table(rep.reliability))
    print("\nHybrid NDCG@10 per spending segment (loyal, all items):")
    print(format_table(rep.by_segment))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Two configurations of the trained models side by side on the last validation window."""
    from recsys.analysis.compare import compare_configs
    from recsys.analysis.compare_report import markdown, text_report, write_block
    from recsys.bundles.configs import TRAINED, resolve_config
    from recsys.serving.service import Recommender

    specs = list(args.config or [])
    if not 1 <= len(specs) <= 2:
        raise ValueError("give one --config (compared with the trained one) or two (A, then B): "
                         "a saved name, a TOML file, or 'trained'")
    if len(specs) == 1:
        specs.insert(0, TRAINED)
    if args.boot < 10:
        raise ValueError(f"--boot must be at least 10 resamples, got {args.boot}")
    rec = Recommender.load(args.artifacts)
    a, b = (resolve_config(args.artifacts, s, rec.config) for s in specs)
    comp = compare_configs(rec, a, b, artifacts=args.artifacts, n_boot=args.boot,
                           progress=lambda m, f: print(f"[compare] {m}", file=sys.stderr, flush=True))
    if args.readme:
        command = "python -m recsys compare " + " ".join(_quoted(x) for x in _compare_argv(args, specs))
        write_block(args.readme, markdown(comp, command))
        print(f"[compare] the block between the compare markers of {args.readme} is rewritten", file=sys.stderr)
    if args.json:
        _print(comp.to_dict(), True)
    else:
        print(text_report(comp))
    return 0


def _compare_argv(args: argparse.Namespace, specs: list[str]) -> list[str]:
    argv = ["--artifacts", str(args.artifacts)]
    for s in specs:
        argv += ["--config", s]
    if args.boot != 2000:
        argv += ["--boot", str(args.boot)]
    return argv + ["--readme", str(args.readme)]


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text)


def cmd_configs(args: argparse.Namespace) -> int:
    """The saved configurations beside the models: list, save one from a TOML file, delete one."""
    from recsys.analysis.compare import knob_changes
    from recsys.bundles.configs import (
        config_path,
        delete_config,
        read_config_file,
        resolve_config,
        save_config,
        saved_names,
    )
    from recsys.serving.service import Recommender

    rec = Recommender.load(args.artifacts)
    if args.save:
        if not args.file:
            raise ValueError("--save NAME needs --file FILE: the TOML file with the knobs to save")
        path = save_config(args.artifacts, args.save, read_config_file(args.file, rec.config), rec.config)
        print(f"saved configuration {path.stem!r} ({path})", file=sys.stderr)
    if args.delete:
        delete_config(args.artifacts, args.delete)
        print(f"deleted configuration {args.delete!r}", file=sys.stderr)
    rows = []
    for name in saved_names(args.artifacts):
        try:
            named = resolve_config(args.artifacts, name, rec.config)
            rows.append({"name": name, "usable": True, "changes": knob_changes(rec.config, named.config),
                         "file": str(config_path(args.artifacts, name))})
        except ValueError as exc:
            rows.append({"name": name, "usable": False, "changes": [], "refused": str(exc),
                         "file": str(config_path(args.artifacts, name))})
    if args.json:
        _print(rows, True)
    elif not rows:
        print(f"no saved configurations beside the models in {args.artifacts}")
    else:
        for r in rows:
            what = (", ".join(r["changes"]) or "the same as trained") if r["usable"] else f"REFUSED: {r['refused']}"
            print(f"{r['name']}: {what}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The REST API (the `api` package beside recsys) under uvicorn, in a process of its own: the
    library never imports the API or its web stack; each worker builds the app from $RECSYS_ARTIFACTS."""
    import importlib.util

    from recsys.bundles.store import current_bundle, read_metadata

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: the REST API needs {missing[0]}: pip install -r requirements-api.txt", file=sys.stderr)
        return 2
    read_metadata(args.artifacts)  # no trained models: the error here, before anything listens
    workers = f" with {args.workers} workers" if args.workers > 1 else ""
    print(f"serving {current_bundle(args.artifacts).name} on http://{args.host}:{args.port}{workers} (docs: /docs)",
          file=sys.stderr, flush=True)
    os.environ["RECSYS_ARTIFACTS"] = str(args.artifacts)
    # api.protocol: uvicorn's HTTP with TCP_NODELAY on every connection (with --workers it was off: 40 ms a request)
    argv = [sys.executable, "-m", "uvicorn", "api.app:app_from_env", "--factory", "--host", args.host,
            "--port", str(args.port), "--workers", str(args.workers), "--log-level", args.log_level,
            "--http", "api.protocol:NoDelayHTTP"]
    os.execv(sys.executable, argv)  # replaces this process: uvicorn's signals and exit code are the command's
    return 0  # not reached


def cmd_together(args: argparse.Namespace) -> int:
    """Items bought in the same baskets as an item more often than chance."""
    rec = _load(args)
    frame = rec.bought_together(args.item_id, n=args.n, min_support=args.min_support,
                                min_lift=args.min_lift, min_count=args.min_count, sort_by=args.sort)
    if args.json:
        _print({"item_id": args.item_id, "min_support": args.min_support, "min_lift": args.min_lift,
                "min_count": args.min_count, "items": frame.to_dict(orient="records")}, True)
    elif frame.empty:
        print(f"no item is bought with {args.item_id} more often than chance (min support {args.min_support}, "
              f"min lift {args.min_lift}, at least {args.min_count} baskets together)")
    else:
        print(_item_heading(rec, args.item_id, "bought together with it"))
        _print(_without_empty(frame, ("item_name", "category")), False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recsys", description="Product recommendations from point-of-sale data.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_data_options(sp: argparse.ArgumentParser) -> None:
        g = sp.add_argument_group("reading the data (default: what is saved beside the file, "
                                  "<file>.mapping.toml and <file>.exclude.txt)")
        g.add_argument("--columns", metavar="MAP",
                       help="column mapping: 'TRANSACTION_DT=timestamp,AMOUNT=quantity,SALES_PRICE=line_value,...' "
                            "or a mapping TOML file ([columns], dates, catalogue)")
        order = g.add_mutually_exclusive_group()
        order.add_argument("--dayfirst", dest="dates", action="store_const", const="dayfirst",
                           help="dates are day/month/year")
        order.add_argument("--monthfirst", dest="dates", action="store_const", const="monthfirst",
                           help="dates are month/day/year")
        g.add_argument("--sheet", metavar="NAME", help="the sheet of a workbook to read (default: the store's "
                                                        "customer sheets, else the workbook's only sheet)")
        g.add_argument("--catalogue", metavar="FILE", help="products file: item id, name, category, current price")
        g.add_argument("--exclude-items", metavar="FILE",
                       help="item ids to leave out, one a line ('!id' keeps a suspect non-product code)")

    def with_artifacts(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--artifacts", default=DEFAULT_ARTIFACTS, help="bundle folder (default: %(default)s)")
        sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    t = sub.add_parser("train", help="train the models and save the bundle")
    t.add_argument("--data", help="workbook, CSV or Parquet (default: the synthetic demo store)")
    with_data_options(t)
    t.add_argument("--artifacts", "--out", dest="artifacts", default=DEFAULT_ARTIFACTS,
                   help="bundle folder (default: %(default)s; --out is the old name)")
    t.add_argument("--config", help="tuning config TOML")
    t.add_argument("--engine", choices=("local", "spark"), default="local")
    t.add_argument("--spark-master", default="local[2]")
    t.add_argument("--no-precompute", action="store_true",
                   help="big stores: leave the default lists for `python -m recsys precompute` (small stores get "
                        "them while training)")
    t.set_defaults(func=cmd_train)

    pc = sub.add_parser("precompute", help="every customer's list under the default knobs, stored beside the "
                                           "live bundle (default requests then read them)")
    pc.add_argument("--artifacts", default=DEFAULT_ARTIFACTS, help="bundle folder (default: %(default)s)")
    pc.set_defaults(func=cmd_precompute)

    r = with_artifacts(sub.add_parser("recommend", help="top-N for a user"))
    r.add_argument("user_id")
    r.add_argument("--n", type=int, default=5)
    r.add_argument("--model", default="hybrid", choices=("als", "item_cf", "popularity", "repeat", "hybrid"))
    r.add_argument("--timestamp", help="as-of time (default: end of the data)")
    r.add_argument("--exclude-purchased", action="store_true")
    r.add_argument("--price-min", type=float)
    r.add_argument("--price-max", type=float)
    r.add_argument("--config", help="a saved configuration's name, or a TOML file of knobs, applied at request time "
                                    "(refused when it needs a retrain)")
    r.set_defaults(func=cmd_recommend)

    s = with_artifacts(sub.add_parser("similar", help="items bought with an item"))
    s.add_argument("item_id")
    s.add_argument("--n", type=int, default=5)
    s.add_argument("--model", default="item_cf", choices=("item_cf", "als"))
    s.set_defaults(func=cmd_similar)

    pp = with_artifacts(sub.add_parser("popular", help="popular items"))
    pp.add_argument("--n", type=int, default=10)
    pp.add_argument("--segment", choices=("small", "low_average", "average", "high"))
    pp.set_defaults(func=cmd_popular)

    pr = with_artifacts(sub.add_parser("profile", help="a user's profile"))
    pr.add_argument("user_id")
    pr.set_defaults(func=cmd_profile)

    with_artifacts(sub.add_parser("stats", help="data and model statistics")).set_defaults(func=cmd_stats)

    sv = sub.add_parser("serve", help="the REST API (needs requirements-api.txt)")
    sv.add_argument("--artifacts", default=DEFAULT_ARTIFACTS, help="bundle folder (default: %(default)s)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=1, help="server processes (default: %(default)s; each "
                                                           "holds the models in memory)")
    sv.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    sv.set_defaults(func=cmd_serve)

    tg = with_artifacts(sub.add_parser("together", help="items frequently bought together with an item"))
    tg.add_argument("item_id")
    tg.add_argument("--n", type=int, default=10)
    tg.add_argument("--min-support", type=float, default=0.0, help="share of baskets holding both (default: 0)")
    tg.add_argument("--min-lift", type=float, default=1.0, help="keep rules with a lift above this (default: 1)")
    tg.add_argument("--min-count", type=int, default=2, help="baskets holding both, at least (default: 2)")
    tg.add_argument("--sort", default="lift", choices=("lift", "confidence", "together"),
                    help="best first by (default: %(default)s)")
    tg.set_defaults(func=cmd_together)

    c = with_artifacts(sub.add_parser("compare", help="two configurations side by side on the last validation window"))
    c.add_argument("--config", action="append", metavar="NAME_OR_FILE",
                   help="A then B: a saved configuration's name, a TOML file of knobs or 'trained' (given once: "
                        "B, against the trained configuration)")
    c.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    c.add_argument("--readme", metavar="FILE", help="also rewrite the <!-- compare:start/end --> block of FILE "
                                                    "with the table and this command")
    c.set_defaults(func=cmd_compare)

    cf = with_artifacts(sub.add_parser("configs", help="saved configurations beside the models"))
    cf.add_argument("--save", metavar="NAME", help="save the knobs of --file under NAME")
    cf.add_argument("--file", metavar="FILE", help="TOML file of knobs (with --save)")
    cf.add_argument("--delete", metavar="NAME", help="delete a saved configuration")
    cf.set_defaults(func=cmd_configs)

    d = sub.add_parser("demo-data", help="write a synthetic store")
    d.add_argument("--out", default="data/demo_store.csv")
    d.add_argument("--users", type=int, default=2000)
    d.add_argument("--items", type=int, default=3000)
    d.add_argument("--lines", type=int, default=200_000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--export", action="store_true",
                   help="a web shop's export instead (InvoiceNo, StockCode, ...: guest lines, postage and fee "
                        "lines, cancellation invoices; --users counts the customers)")
    d.set_defaults(func=cmd_demo_data)

    e = sub.add_parser("evaluate", help="offline evaluation table")
    e.add_argument("--data", required=True)
    with_data_options(e)
    e.add_argument("--test-days", type=int, default=28)
    e.add_argument("--k", type=int, nargs="+", default=[5, 10])
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    from recsys.errors import (
        BundleError,
        DataError,
        SparkUnavailable,
        UnknownItemError,
        UnknownUserError,
    )
    from recsys.process import keep_freed_memory

    args = build_parser().parse_args(argv)
    keep_freed_memory()  # every command allocates and frees mid-size arrays over and over
    try:
        return args.func(args)
    except BrokenPipeError:  # `python -m recsys stats | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DataError, BundleError, UnknownItemError, SparkUnavailable, ValueError, KeyError,
            FileNotFoundError) as exc:
        plain_key = isinstance(exc, KeyError) and not isinstance(exc, (UnknownItemError, UnknownUserError))
        msg = exc.args[0] if plain_key and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
