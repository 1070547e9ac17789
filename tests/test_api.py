"""The REST API under FastAPI's TestClient: every endpoint, the error cases and the reload.

Skips when the optional extra (requirements-api.txt) is not installed."""
from __future__ import annotations

import shutil
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from api import create_app  # noqa: E402
from api.app import BUNDLE_HEADER  # noqa: E402
from recsys.bundles.store import current_bundle  # noqa: E402

V1 = "/api/v1"


@pytest.fixture(scope="module")
def bundle(small_bundle, tmp_path_factory):
    """A private copy of the small bundle's folder (the reload tests write new bundles into it)."""
    rec, src = small_bundle
    dst = tmp_path_factory.mktemp("api") / "artifacts"
    shutil.copytree(src, dst)
    return rec, dst


@pytest.fixture(scope="module")
def client(bundle):
    app = create_app(bundle[1], poll_seconds=0.2)
    with TestClient(app) as c:  # the context runs the lifespan: the bundle watcher
        yield c


def _one_line(r) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail
    return detail


def test_recommendations_get_matches_the_library(client, bundle):
    rec = bundle[0]
    user = str(rec.state.user_ids[0])
    r = client.get(f"{V1}/recommendations/{user}", params={"n": 7, "model": "hybrid"})
    assert r.status_code == 200
    body = r.json()
    lib = rec.recommend(user, n=7)
    assert [x["item_id"] for x in body["recommendations"]] == [x.item_id for x in lib.recommendations]
    assert body["user_info"]["user_id"] == user and body["fallback_used"] is False
    assert body["recommendations"][0]["score_breakdown"]
    assert r.headers[BUNDLE_HEADER] == current_bundle(bundle[1]).name
    other = client.get(f"{V1}/recommendations/{user}", params={"n": 3, "model": "popularity",
                                                               "timestamp": str(rec.state.data_end.date())})
    assert other.status_code == 200 and len(other.json()["recommendations"]) == 3
    assert other.json()["primary_model"] == "popularity"


def test_unknown_user_gets_the_popularity_fallback(client):
    r = client.get(f"{V1}/recommendations/nobody-at-all", params={"n": 4})
    assert r.status_code == 200
    body = r.json()
    assert body["fallback_used"] is True and body["primary_model"] == "popularity"
    assert len(body["recommendations"]) == 4


def test_post_with_a_basket_and_knob_overrides(client, bundle):
    rec = bundle[0]
    basket = [str(i) for i in rec.popular_items(3)["item_id"]]
    body = {"user_id": "what-if", "num_recommendations": 6, "model_type": "hybrid", "exclude_purchased": True,
            "history": [{"item_id": basket[0], "quantity": 2}, {"item_id": basket[1]}, {"item_id": basket[2], "price": 1.5}]}
    r = client.post(f"{V1}/recommendations", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fallback_used"] is False and got["user_info"]["user_type"] == "new"
    ids = [x["item_id"] for x in got["recommendations"]]
    assert len(ids) == 6 and not set(ids) & set(basket)  # exclude_purchased applies to the basket
    lib = rec.recommend("what-if", n=6, exclude_purchased=True,
                        history=[{"item_id": basket[0], "quantity": 2.0}, {"item_id": basket[1]},
                                 {"item_id": basket[2], "price": 1.5}])
    assert ids == [x.item_id for x in lib.recommendations]
    # a request-time override changes the list the way the library does
    cfg = {"rerank": {"upsell_factor": 2.0, "max_price_ratio": 3.0}}
    up = client.post(f"{V1}/recommendations", json={**body, "config": cfg}).json()
    lib_up = rec.recommend("what-if", n=6, exclude_purchased=True, history=body["history"],
                           config=rec.config.replace(**cfg))
    assert [x["item_id"] for x in up["recommendations"]] == [x.item_id for x in lib_up.recommendations]
    # price range
    priced = client.post(f"{V1}/recommendations", json={**body, "price_range_min": 2.0, "price_range_max": 6.0}).json()
    assert all(2.0 <= x["item_price"] <= 6.0 for x in priced["recommendations"])


@pytest.mark.parametrize("patch, words", [
    ({"config": {"rerank": {"no_such_knob": 1}}}, "no_such_knob"),
    ({"config": {"nonsense": {"a": 1}}}, "nonsense"),
    ({"config": {"als": {"factors": 8}}}, "retrain"),
    ({"config": {"rerank": {"upsell_factor": "lots"}}}, "upsell_factor"),
    ({"config": {"weights": {"als": -1.0}}}, "non-negative"),
    ({"model_type": "magic"}, "model_type"),
    ({"num_recommendations": 0}, "num_recommendations"),
    ({"history": [{"item_id": "x", "colour": "red"}]}, "colour"),
    ({"timestamp": "not a date"}, "not a date"),
    ({"price_range_min": 9.0, "price_range_max": 1.0}, "price"),
])
def test_bad_posts_are_422_naming_the_problem(client, patch, words):
    r = client.post(f"{V1}/recommendations", json={"user_id": "u", **patch})
    assert r.status_code == 422, r.text
    assert words in _one_line(r)


@pytest.mark.parametrize("url, code, words", [
    (f"{V1}/recommendations/u?n=0", 422, "'n'"),
    (f"{V1}/recommendations/u?model=nope", 422, "'model'"),
    (f"{V1}/recommendations/u?timestamp=yesterday-ish", 422, "yesterday-ish"),
    (f"{V1}/recommendations/u?price_min=5&price_max=1", 422, "above"),
    (f"{V1}/items/no-such-item/similar", 404, "no-such-item"),
    (f"{V1}/items/no-such-item/bought-together", 404, "no-such-item"),
    (f"{V1}/items/popular?segment=giant", 422, "'segment'"),
    (f"{V1}/users/no-such-user/profile", 404, "no-such-user"),
    (f"{V1}/users?limit=0", 422, "'limit'"),
])
def test_bad_gets_are_404_or_422_in_one_line(client, url, code, words):
    r = client.get(url)
    assert r.status_code == code, r.text
    assert words in _one_line(r)


def test_similar_and_bought_together(client, bundle):
    rec = bundle[0]
    item = str(rec.popular_items(1)["item_id"][0])
    r = client.get(f"{V1}/items/{item}/similar", params={"n": 5})
    assert r.status_code == 200
    assert [x["item_id"] for x in r.json()["similar_items"]] == [x["item_id"] for x in rec.similar_items(item, 5).similar_items]
    assert client.get(f"{V1}/items/{item}/similar", params={"model": "als"}).json()["model"] == "als"
    r = client.get(f"{V1}/items/{item}/bought-together", params={"n": 5, "min_lift": 1.0})
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and all(x["lift"] > 1.0 and 0 < x["confidence"] <= 1 for x in items)
    assert [x["lift"] for x in items] == sorted((x["lift"] for x in items), reverse=True)
    by_conf = client.get(f"{V1}/items/{item}/bought-together", params={"n": 50, "sort_by": "confidence"}).json()["items"]
    assert [x["confidence"] for x in by_conf] == sorted((x["confidence"] for x in by_conf), reverse=True)
    assert client.get(f"{V1}/items/{item}/bought-together", params={"sort_by": "price"}).status_code == 422


def test_popular_overall_and_by_segment(client, bundle):
    rec = bundle[0]
    r = client.get(f"{V1}/items/popular", params={"n": 8})
    assert r.status_code == 200
    assert [x["item_id"] for x in r.json()["items"]] == rec.popular_items(8)["item_id"].tolist()
    seg = client.get(f"{V1}/items/popular", params={"n": 5, "segment": "high"}).json()
    assert seg["segment"] == "high" and [x["item_id"] for x in seg["items"]] == \
        rec.popular_items(5, segment="high")["item_id"].tolist()


def test_users_paged_and_profile(client, bundle):
    rec = bundle[0]
    page = client.get(f"{V1}/users", params={"offset": 10, "limit": 5}).json()
    assert page["total"] == rec.state.n_users and len(page["users"]) == 5
    assert [u["user_id"] for u in page["users"]] == [str(u) for u in rec.state.user_ids[10:15]]
    assert client.get(f"{V1}/users", params={"offset": rec.state.n_users}).json()["users"] == []
    user = page["users"][0]["user_id"]
    prof = client.get(f"{V1}/users/{user}/profile").json()
    assert prof["user_id"] == user and prof["total_purchases"] == rec.user_profile(user)["total_purchases"]


def test_service_endpoints(client, bundle):
    rec = bundle[0]
    health = client.get(f"{V1}/health").json()
    assert health["status"] == "ok" and health["users"] == rec.state.n_users
    assert client.get(f"{V1}/models").json()["available"] == list(rec.models()["available"])
    assert client.get(f"{V1}/stats").json()["lines"] == rec.state.summary["lines"]
    assert client.get(f"{V1}/config").json()["rerank"]["candidate_pool"] == rec.config.rerank.candidate_pool
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200
    spec = client.get("/openapi.json").json()
    assert f"{V1}/items/{{item_id}}/bought-together" in spec["paths"]


def test_a_new_bundle_is_served_without_a_restart(client, bundle):
    """While requests keep coming, a retrain lands: the watcher swaps it in, no request fails."""
    rec, folder = bundle
    before = current_bundle(folder).name
    user = str(rec.state.user_ids[1])
    seen, failures, stop = set(), [], threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.get(f"{V1}/recommendations/{user}", params={"n": 3})
            if r.status_code != 200:
                failures.append(r.text)
            seen.add(r.headers[BUNDLE_HEADER])

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        new = rec.save(folder).name  # what `train --out folder` does at its end
        assert new != before
        holder = client.app.state.holder
        assert holder.wait_for(new, timeout=20), "the watcher did not pick up the new bundle"
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(10)
    assert not failures
    assert seen == {before, new}
    assert client.get(f"{V1}/health").json()["bundle"] == new
    # POST /reload: nothing new -> not reloaded; forced -> reloaded
    assert client.post(f"{V1}/reload").json() == {**client.post(f"{V1}/reload").json(), "reloaded": False}
    forced = client.post(f"{V1}/reload", params={"force": True}).json()
    assert forced["reloaded"] is True and forced["bundle"] == new


def test_a_broken_bundle_leaves_the_live_one_serving(client, bundle):
    folder = bundle[1]
    live = client.get(f"{V1}/health").json()["bundle"]
    pointer = folder / "CURRENT"
    old = pointer.read_text()
    try:
        pointer.write_text("bundle-that-does-not-exist\n")
        r = client.post(f"{V1}/reload")
        assert r.status_code == 503 and live in _one_line(r)
        assert client.get(f"{V1}/recommendations/u").status_code == 200
        assert client.get(f"{V1}/health").json()["reload_error"]
    finally:
        pointer.write_text(old)
    assert client.post(f"{V1}/reload", params={"force": True}).json()["bundle"] == live


def test_cors_only_when_configured(bundle, monkeypatch):
    monkeypatch.setenv("RECSYS_CORS_ORIGINS", "http://localhost:3000, http://example.test")
    with TestClient(create_app(bundle[1], poll_seconds=0)) as c:
        r = c.get(f"{V1}/health", headers={"Origin": "http://localhost:3000"})
        assert r.headers.get("access-control-allow-origin") == "http://localhost:3000"
        assert "access-control-allow-origin" not in c.get(f"{V1}/health", headers={"Origin": "http://evil.test"}).headers
    monkeypatch.delenv("RECSYS_CORS_ORIGINS")
    with TestClient(create_app(bundle[1], poll_seconds=0)) as c:
        assert "access-control-allow-origin" not in c.get(f"{V1}/health", headers={"Origin": "http://localhost:3000"}).headers


def test_no_bundle_is_a_clear_error(tmp_path):
    from recsys.errors import BundleError

    with pytest.raises(BundleError, match="no trained models"):
        create_app(tmp_path)


def test_cli_serve_without_fastapi_prints_one_line(monkeypatch, capsys):
    import importlib.util

    from recsys import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert cli.main(["serve", "--artifacts", "nowhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "uvicorn" in err and "requirements-api.txt" in err


def test_serve_answers_over_http_on_loopback(bundle, tmp_path):
    """`python -m recsys serve` for real: uvicorn on 127.0.0.1 and a free port, then stopped."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "serve", "--artifacts", str(bundle[1]), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, health = time.time() + 60, None
        while health is None and time.time() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}{V1}/health", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.3)
        assert health is not None, (tmp_path / "serve.log").read_text()
        assert health["status"] == "ok" and health["bundle"] == current_bundle(bundle[1]).name
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_library_never_imports_fastapi():
    import subprocess
    import sys

    code = ("import sys, importlib, pkgutil, recsys; [importlib.import_module('recsys.' + m.name) for m in "
            "pkgutil.iter_modules(recsys.__path__) if m.name not in ('spark_engine', '__main__')]; "
            "print('fastapi' in sys.modules or 'starlette' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_response_models_take_the_optional_catalogue_fields():
    from api import schemas

    rec = schemas.Recommendation(item_id="1", relevance_score=0.5, confidence_score=0.2, item_price=1.0,
                                 recommendation_reason="r", model_source="als", item_name="Milk", category="Dairy",
                                 future_field=3)
    assert rec.model_dump()["item_name"] == "Milk" and rec.model_dump()["future_field"] == 3
    bare = schemas.Recommendation(item_id="1", relevance_score=0.5, confidence_score=0.2, item_price=1.0,
                                  recommendation_reason="r", model_source="als")
    assert bare.item_name is None and bare.category is None


def test_a_saved_configuration_by_name(client, bundle):
    from recsys.bundles.configs import save_config

    rec, folder = bundle
    upsell = rec.config.replace(rerank={"upsell_factor": 1.0, "price_boost_weight": 1.0})
    save_config(folder, "upsell", upsell, rec.config)
    user = str(rec.state.user_ids[1])
    want = [x.item_id for x in rec.recommend(user, n=8, config=upsell).recommendations]
    got = client.get(f"{V1}/recommendations/{user}", params={"n": 8, "config_name": "upsell"})
    assert got.status_code == 200, got.text
    assert [x["item_id"] for x in got.json()["recommendations"]] == want
    post = client.post(f"{V1}/recommendations", json={"user_id": user, "num_recommendations": 8, "config_name": "upsell"})
    assert [x["item_id"] for x in post.json()["recommendations"]] == want
    # overrides apply over the named configuration
    both = client.post(f"{V1}/recommendations", json={"user_id": user, "num_recommendations": 8, "config_name": "upsell",
                                                      "config": {"rerank": {"upsell_factor": 0.0}}}).json()
    plain = rec.recommend(user, n=8, config=upsell.replace(rerank={"upsell_factor": 0.0}))
    assert [x["item_id"] for x in both["recommendations"]] == [x.item_id for x in plain.recommendations]
    missing = client.get(f"{V1}/recommendations/{user}", params={"config_name": "nope"})
    assert missing.status_code == 422 and "no saved configuration 'nope'" in _one_line(missing)
    (folder / "configs" / "retrain.toml").write_text("[als]\nfactors = 8\n")
    refused = client.get(f"{V1}/recommendations/{user}", params={"config_name": "retrain"})
    assert refused.status_code == 422 and "needs a retrain" in _one_line(refused) and "als.factors" in _one_line(refused)
    knob = client.post(f"{V1}/recommendations", json={"user_id": user, "config": {"repeat": {"horizon_days": 7}}})
    assert knob.status_code == 422 and "repeat.horizon_days" in _one_line(knob)


def test_every_connection_gets_tcp_nodelay(monkeypatch, small_bundle):
    """With --workers, uvicorn's listening socket left Nagle on: each answer waited 40 ms for the
    client's delayed ACK. The serve command's protocol turns it off per connection."""
    import socket

    from api import protocol
    from recsys.cli import build_parser

    monkeypatch.setattr(protocol._Base, "connection_made", lambda self, transport: None)
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # what uvicorn's workers got

        class Transport:
            def get_extra_info(self, name):
                return conn if name == "socket" else None

        protocol.NoDelayHTTP.__new__(protocol.NoDelayHTTP).connection_made(Transport())
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (conn, client, server):
            s.close()
    import recsys.cli

    started = []
    monkeypatch.setattr(recsys.cli.os, "execv", lambda exe, argv: started.append(argv))
    monkeypatch.setenv("RECSYS_ARTIFACTS", str(small_bundle[1]))  # serve sets it: put back after the test
    args = build_parser().parse_args(["serve", "--artifacts", str(small_bundle[1]), "--workers", "2"])
    args.func(args)
    assert started and started[0][started[0].index("--http") + 1] == "api.protocol:NoDelayHTTP"
