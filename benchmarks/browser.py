"""The dashboard in headless Chromium: a small DevTools-protocol driver (shared with
tests/test_browser.py) and the benchmark of every page, navigation to a settled page.

    python -m benchmarks.browser --artifacts DIR   # an artifacts root with a bundle in DIR/demo

Chromium is driven over its `--remote-debugging-port`: the one-shot `--dump-dom` /
`--screenshot` with `--virtual-time-budget` returns Streamlit's loading skeleton, because virtual
time does not wait for the app's websocket. A page counts as settled when its script has
finished, no skeleton is left and nothing changed for a second; the time reported is from the
navigation to the first of those still moments (the second of stillness is not counted).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = {  # url path -> the page's title, in the navigation's order
    "": "Overview", "recommendations": "Recommendations", "similar-items": "Similar items",
    "segments": "Segments", "popularity": "Popularity", "evaluation": "Evaluation", "data": "Data and training",
}
STEADY_POLLS, POLL_S = 4, 0.25  # a settled page: the same state and text for 4 polls 0.25 s apart

STATE_JS = """(() => {
  const q = s => document.querySelector(s);
  if (!q('[data-testid="stApp"]') || q('[data-testid="stAppSkeleton"]')) return 'loading';
  const status = q('[data-testid="stStatusWidget"]');
  if (status && /running|connecting/i.test(status.innerText || '')) return 'running';
  if (q('[data-testid="stException"], [data-testid="stAlertContentError"]')) return 'error';
  if (!q('h1')) return 'no title';
  if (q('[data-testid*="Skeleton"], [data-testid*="skeleton"]')) return 'widgets loading';
  return 'ready';
})()"""
FACTS_JS = """JSON.stringify({
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText),
  traceback: document.body.innerText.includes('Traceback'),
  nav: [...document.querySelectorAll('[data-testid="stSidebarNavLink"]')].map(e => e.innerText.trim().split('\\n').pop()),
  source: !!document.querySelector('[data-testid="stSidebarUserContent"] [data-testid="stSelectbox"]'),
  titles: [...document.querySelectorAll('h1')].map(e => e.innerText.trim()),
  height: Math.max(...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stMainBlockContainer"]')]
                         .map(e => e.scrollHeight), 0),
})"""
# a cheap fingerprint of what the page shows: its text length and element count
SIGNATURE_JS = "document.body.innerText.length + ':' + document.getElementsByTagName('*').length"
METRIC_JS = """(() => {
  const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
              .find(e => (e.querySelector('[data-testid="stMetricLabel"]') || {}).innerText === %s);
  return m ? m.querySelector('[data-testid="stMetricValue"]').innerText : null;
})()"""
FOCUS_SLIDER_JS = """(() => {
  const s = [...document.querySelectorAll('[data-testid="stSlider"]')]
              .find(e => (e.innerText || '').includes(%s));
  const thumb = s && s.querySelector('input[type="range"], [role="slider"]');
  if (!thumb) return false;
  thumb.focus();
  return true;
})()"""


def _own_memory_limit() -> None:
    """In a child before exec: lift an inherited soft address-space limit (the benchmark runner
    sets one for itself) to the hard one; Chromium reserves far more address space than it uses."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A headless Chromium page over the DevTools protocol (just what the test and benchmark need)."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        from websockets.sync.client import connect

        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_own_memory_limit)
        deadline, url = time.time() + 30, None
        while url is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before it listened")
            m = re.search(r"DevTools listening on ws://[^/]+:(\d+)/", line)
            if m:
                url = f"http://127.0.0.1:{m.group(1)}/json/list"
        targets = json.load(urllib.request.urlopen(url, timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self._connection = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ws = self._connection.__enter__()
        self.ids = itertools.count(1)
        self.width, self.height = width, height
        self.call("Page.enable")
        self.resize(height)

    def call(self, method: str, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"javascript failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def resize(self, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def settle(self, t0: float, timeout: float) -> tuple[str, float]:
        """(state, seconds from t0 to the start of the still period) once the page holds still."""
        deadline, steady, state, last, since = time.time() + timeout, 0, "loading", None, time.perf_counter()
        while time.time() < deadline and steady < STEADY_POLLS:
            time.sleep(POLL_S)
            state = self.js(STATE_JS)
            sig = (state, self.js(SIGNATURE_JS)) if state in ("ready", "error") else None
            if sig is not None and sig == last:
                steady += 1
            else:
                steady, since = (1, time.perf_counter()) if sig is not None else (0, time.perf_counter())
            last = sig
        return state, round(since - t0, 3)

    def open(self, url: str, timeout: float = 45.0) -> dict:
        """Navigate and wait until the app has rendered and stayed still for a second; the facts of
        the page with `seconds`, the time from the navigation to the settled page."""
        self.resize(self.height)
        t0 = time.perf_counter()
        self.call("Page.navigate", url=url)
        state, seconds = self.settle(t0, timeout)
        facts = json.loads(self.js(FACTS_JS))
        facts["state"], facts["seconds"] = state, seconds
        return facts

    def press(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                      nativeVirtualKeyCode=code)

    def move_slider(self, label: str, metric: str, timeout: float = 30.0) -> float | None:
        """Seconds from a slider's step to the right (the keyboard, as a user would) until the metric
        `metric` shows a new value and the page holds still again; None if the slider is not there."""
        if not self.js(FOCUS_SLIDER_JS % json.dumps(label)):
            return None
        before = self.js(METRIC_JS % json.dumps(metric))
        t0 = time.perf_counter()
        self.press("ArrowRight", 39)
        deadline = time.time() + timeout
        while time.time() < deadline and self.js(METRIC_JS % json.dumps(metric)) == before:
            time.sleep(0.02)
        changed = time.perf_counter() - t0
        state, _ = self.settle(t0, timeout)
        return round(changed, 3) if state == "ready" else None

    def screenshot(self, path: Path, height: int) -> None:
        """The whole page (Streamlit scrolls inside the page, so the viewport is made tall enough)."""
        import base64

        self.resize(max(self.height, min(int(height) + 40, 6000)))
        time.sleep(1.2)  # charts re-layout to the new size
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        self.resize(self.height)

    def close(self) -> None:
        try:
            self._connection.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_server(env_vars: dict[str, str], log: Path, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port; (process, base url) once it answers its health check."""
    port = free_port()
    env = {**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=_own_memory_limit)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
        try:
            if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure_pages(artifacts_root: str, source: str = "demo", knob_moves: int = 3) -> dict:
    """Every page opened in headless Chromium (seconds from navigation to a settled page), twice:
    `first` opens each page on a fresh server (the bundle loaded by the first page), `warm` again;
    then the list size knob moved `knob_moves` times in the browser (fragment reruns)."""
    work = Path(tempfile.mkdtemp(prefix="browser-bench-"))
    env = {"RECSYS_ARTIFACTS": str(artifacts_root),
           "RECSYS_DATA_DIR": os.environ.get("RECSYS_DATA_DIR") or str(work / "data"),
           "RECSYS_CACHE_DIR": str(work / "cache")}
    (work / "data").mkdir(exist_ok=True)
    proc, base = start_server(env, work / "streamlit.log")
    try:
        browser = Browser(work / "profile")
    except Exception:
        stop(proc)  # the server must not outlive a browser that did not start
        raise
    out: dict = {"pages_first_s": {}, "pages_warm_s": {}, "problems": []}
    try:
        for label, key in (("first", "pages_first_s"), ("warm", "pages_warm_s")):
            for path, title in PAGES.items():
                facts = browser.open(f"{base}/{path}?source={source}", timeout=180)
                out[key][title] = facts["seconds"]
                if facts["state"] != "ready" or facts["exceptions"] or facts["errors"] or title not in facts["titles"]:
                    out["problems"].append(f"{label} {title}: {facts['state']} {facts['errors'][:1]}")
        browser.open(f"{base}/recommendations?source={source}", timeout=180)
        moves = [browser.move_slider("Items in the list", "Items") for _ in range(knob_moves)]
        out["knob_moves_s"] = moves
        if any(m is None for m in moves):
            out["problems"].append("a knob move did not finish")
    finally:
        browser.close()
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    ok = [m for m in out.get("knob_moves_s", []) if m is not None]
    out["knob_move_s"] = round(sorted(ok)[len(ok) // 2], 3) if ok else None
    out["slowest_page_s"] = max(out["pages_warm_s"].values(), default=None)
    out["slowest_first_page_s"] = max(out["pages_first_s"].values(), default=None)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", required=True, help="an artifacts root with a trained bundle in ARTIFACTS/demo")
    p.add_argument("--source", default="demo")
    args = p.parse_args(argv)
    print(json.dumps(measure_pages(args.artifacts, args.source), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
