"""The FastAPI app: `create_app(artifacts)`; run it with `python -m recsys serve`.

Every route reads the live bundle once (`holder.current`) and answers from it through the
library; bad input is a 422 and an unknown user or item a 404 (the library's own errors, mapped
here), each with a one-line `detail`, never a 500.
"""
from __future__ import annotations

import dataclasses
import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from api import schemas as S
from api.holder import BundleHolder, Served
from recsys import TuningConfig, __version__
from recsys.bundles.configs import config_path, resolve_config
from recsys.config import TRAINING_SECTIONS, retrain_reasons
from recsys.process import prepare_serving_process
from recsys.errors import BundleError, UnknownItemError, UnknownUserError

PREFIX = "/api/v1"
BUNDLE_HEADER = "X-Recsys-Bundle"


def cors_origins() -> list[str]:
    return [o.strip() for o in os.environ.get("RECSYS_CORS_ORIGINS", "").split(",") if o.strip()]


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem in one line: where it is and what is wrong."""
    err = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    where = {"query": "query parameter", "path": "path parameter"}.get(loc[0], "") if loc else ""
    name = ".".join(loc[1:] if where else loc)
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where + ' ' if where else ''}'{name}': {msg}" if name else msg


def request_config(served: Served, overrides: dict[str, dict[str, Any]] | None,
                   config_name: str | None = None, artifacts: Path | None = None) -> TuningConfig | None:
    """The bundle's config, or the saved configuration `config_name` beside it, with request-time
    overrides applied; ValueError names a bad key, an unknown name or what needs a retrain."""
    if not overrides and not config_name:
        return None
    base = served.rec.config if not config_name else saved_config(served, config_name, artifacts)
    if not overrides:
        return base
    sections = {f.name for f in dataclasses.fields(TuningConfig)}
    for name in overrides:
        if name not in sections:
            raise ValueError(f"unknown config section {name!r}; choose from {', '.join(sorted(sections))}")
        if name in TRAINING_SECTIONS:
            raise ValueError(f"config section {name!r} takes effect only when training; retrain to change it")
    try:
        cfg = base.overlay(overrides).validate()
    except (TypeError, KeyError) as exc:
        raise ValueError(str(exc)) from exc
    reasons = retrain_reasons(served.rec.config, cfg)
    if reasons:
        raise ValueError(f"config knobs that take effect only when training ({'; '.join(reasons)}); "
                         "retrain to change them")
    return cfg


def saved_config(served: Served, name: str, artifacts: Path | None) -> TuningConfig:
    """A saved configuration of the served bundle's folder, read once per version of its file."""
    if artifacts is None:
        raise ValueError("'config_name': this server has no folder of saved configurations")
    try:
        path = config_path(artifacts, name)
        stamp = path.stat()
        key = (name, stamp.st_mtime_ns, stamp.st_size)
    except (ValueError, OSError):
        key = None  # an unknown or malformed name: resolve_config names the problem
    if key is not None and key in served.configs:
        return served.configs[key]
    try:
        config = resolve_config(artifacts, name, served.rec.config).config
    except ValueError as exc:
        raise ValueError(f"'config_name': {exc}") from None
    if key is not None and len(served.configs) < 256:
        served.configs[key] = config
    return config


def _finite(value: Any) -> Any:
    """The value with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def answer(served: Served, payload: dict[str, Any]) -> Response:
    """The payload as JSON, written once by the standard library: the library's answers are plain
    dicts of str, int and float already, so FastAPI's validation against the response model and its
    encoder (most of a fast request's time) are skipped; the models still document the answers."""
    try:
        body = json.dumps(payload, allow_nan=False, separators=(",", ":"), default=_jsonable)
    except ValueError:  # a NaN or an infinity somewhere: null, as the response models write them
        body = json.dumps(_finite(payload), separators=(",", ":"), default=_jsonable)
    return Response(body.encode("utf-8"), media_type="application/json", headers={BUNDLE_HEADER: served.bundle})


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return str(value)
    return value


def app_from_env() -> FastAPI:
    """The app over $RECSYS_ARTIFACTS: the factory each uvicorn worker process calls (--workers).
    Each worker prepares itself once (BLAS on one thread, an allocator that keeps a request's
    freed memory: recsys.process.prepare_serving_process); no request changes process settings."""
    prepare_serving_process()
    return create_app(os.environ.get("RECSYS_ARTIFACTS", "artifacts"))


def create_app(artifacts: str | Path, poll_seconds: float = 1.0) -> FastAPI:
    """The app over the live bundle of `artifacts` (BundleError when there is none)."""
    holder = BundleHolder(artifacts, poll_seconds=poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.start_watching()
        yield
        holder.stop_watching()

    app = FastAPI(title="recsys", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url="/redoc",
                  description="Product recommendations from point-of-sale data: the same Recommender as the "
                              "dashboard and the CLI. A bundle written by `python -m recsys train` into the "
                              "artifacts folder is served without a restart.")
    app.state.holder = holder
    origins = cors_origins()
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"])

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(UnknownItemError)
    @app.exception_handler(UnknownUserError)
    async def _not_found(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(BundleError)
    async def _no_bundle(request: Request, exc: BundleError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def live(response: Response) -> Served:
        served = holder.current  # once per request: the whole answer comes from this bundle
        response.headers[BUNDLE_HEADER] = served.bundle
        return served

    # ---- recommendations ---------------------------------------------------------------
    # The request handlers are `async def`: their work is CPU under the GIL (a precomputed answer
    # in ~0.2 ms, a live one in a few ms), so a thread pool would only add a hand-over per request;
    # `serve --workers N` runs them side by side.
    @app.get(f"{PREFIX}/recommendations/{{user_id}}", response_model=S.RecommendationResponse, tags=["recommendations"])
    async def recommendations(user_id: str, n: int = Query(5, ge=1, le=200),
                              model: S.ModelName = "hybrid", timestamp: Optional[str] = None,
                              exclude_purchased: bool = False, price_min: Optional[float] = Query(None, ge=0),
                              price_max: Optional[float] = Query(None, ge=0),
                              config_name: Optional[str] = Query(None, max_length=80, description=S.CONFIG_NAME_HELP)
                              ) -> Response:
        """Top-n for a customer; an unknown customer gets popular items (`fallback_used`)."""
        served = holder.current  # once per request: the whole answer comes from this bundle
        cfg = request_config(served, None, config_name, holder.artifacts)
        return answer(served, served.rec.recommend(
            user_id, n=n, model=model, timestamp=timestamp, exclude_purchased=exclude_purchased,
            price_min=price_min, price_max=price_max, config=cfg).to_dict())

    @app.post(f"{PREFIX}/recommendations", response_model=S.RecommendationResponse, tags=["recommendations"])
    async def recommendations_post(body: S.RecommendationRequest) -> Response:
        """Top-n with every option: a basket for a customer unseen at training, knob overrides."""
        served = holder.current
        # items of the basket the models never saw are left out and named in `ignored_items`
        history = [h.model_dump(exclude_none=True) for h in body.history] if body.history else None
        cfg = request_config(served, body.config, body.config_name, holder.artifacts)
        return answer(served, served.rec.recommend(
            body.user_id, n=body.num_recommendations, model=body.model_type, timestamp=body.timestamp,
            exclude_purchased=body.exclude_purchased, price_min=body.price_range_min, price_max=body.price_range_max,
            history=history, config=cfg).to_dict())

    # ---- items ---------------------------------------------------------------------------
    @app.get(f"{PREFIX}/items/popular", response_model=S.PopularItemsResponse, tags=["items"])
    async def popular(n: int = Query(10, ge=1, le=500), segment: Optional[S.Segment] = None) -> Response:
        """Most popular items overall, or by distinct buyers within a spending segment."""
        served = holder.current
        key = (n, segment)
        if key not in served.popular:  # the same for every request to this bundle
            frame = served.rec.popular_items(n=n, segment=segment)
            if len(served.popular) < 1024:
                served.popular[key] = frame.to_dict(orient="records")
            else:
                return answer(served, {"segment": segment, "items": frame.to_dict(orient="records")})
        return answer(served, {"segment": segment, "items": served.popular[key]})

    @app.get(f"{PREFIX}/items/{{item_id}}/similar", response_model=S.SimilarItemsResponse, tags=["items"])
    async def similar(item_id: str, n: int = Query(5, ge=1, le=200),
                      model: Literal["item_cf", "als"] = "item_cf") -> Response:
        """Items most often bought with this one (item-CF), or nearest in ALS space."""
        served = holder.current
        return answer(served, served.rec.similar_items(item_id, n=n, model=model).to_dict())

    @app.get(f"{PREFIX}/items/{{item_id}}/bought-together", response_model=S.BoughtTogetherResponse, tags=["items"])
    async def bought_together(item_id: str, n: int = Query(10, ge=1, le=200),
                              min_support: float = Query(0.0, ge=0, le=1), min_lift: float = Query(1.0, ge=0),
                              min_count: int = Query(2, ge=1),
                              sort_by: Literal["lift", "confidence", "together"] = "lift") -> Response:
        """Items in the same baskets more often than chance: support, confidence and lift."""
        served = holder.current
        frame = served.rec.bought_together(item_id, n=n, min_support=min_support, min_lift=min_lift,
                                           min_count=min_count, sort_by=sort_by)
        return answer(served, {"item_id": item_id, "min_support": min_support, "min_lift": min_lift,
                               "min_count": min_count, "sort_by": sort_by, "items": frame.to_dict(orient="records")})

    # ---- users ---------------------------------------------------------------------------
    @app.get(f"{PREFIX}/users", response_model=S.UsersPage, tags=["users"])
    def users(response: Response, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        """Customer profiles in training order, a page at a time."""
        served = live(response)
        profiles = served.rec.state.profiles  # a slice only: never the whole table per request
        page = profiles.iloc[offset:offset + limit].drop(columns=["segment_code"], errors="ignore")
        rows = [{k: _jsonable(v) for k, v in r.items()} for r in page.to_dict(orient="records")]
        return {"total": len(profiles), "offset": offset, "limit": limit, "users": rows}

    @app.get(f"{PREFIX}/users/{{user_id}}/profile", tags=["users"])
    def profile(user_id: str, response: Response) -> dict[str, Any]:
        """A customer's profile: type, volume, spend, dates and spending segment."""
        return {k: _jsonable(v) for k, v in live(response).rec.user_profile(user_id).items()}

    # ---- service -------------------------------------------------------------------------
    @app.get(f"{PREFIX}/health", tags=["service"])
    async def health(response: Response) -> dict[str, Any]:
        served = live(response)
        return {**served.rec.health(), "bundle": served.bundle, "loaded_at": served.loaded_at,
                "reloads": holder.reloads, "reload_error": holder.last_error, "pid": os.getpid()}

    @app.get(f"{PREFIX}/models", tags=["service"])
    def models(response: Response) -> dict[str, Any]:
        return live(response).models

    @app.get(f"{PREFIX}/stats", tags=["service"])
    def stats(response: Response) -> dict[str, Any]:
        return live(response).stats

    @app.get(f"{PREFIX}/config", tags=["service"])
    def config(response: Response) -> dict[str, Any]:
        return live(response).config

    @app.post(f"{PREFIX}/reload", response_model=S.ReloadResponse, tags=["service"])
    def reload(response: Response, force: bool = False) -> dict[str, Any]:
        """Load the bundle the artifacts folder's CURRENT names now (the watcher does it within a second)."""
        swapped = holder.reload(force=force)
        if holder.last_error:
            raise BundleError(f"the new bundle could not be loaded, still serving {holder.current.bundle}: "
                              f"{holder.last_error}")
        served = live(response)
        return {"reloaded": swapped, "bundle": served.bundle, "loaded_at": served.loaded_at}

    return app
