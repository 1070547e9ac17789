"""The dashboard in headless Chromium: a small DevTools-protocol driver (shared with
tests/test_browser.py) and the benchmark of every page, navigation to a settled page.

    python -m benchmarks.browser --artifacts DIR   # an artifacts root with a bundle in DIR/demo

Chromium is driven over its `--remote-debugging-port`: the one-shot `--dump-dom` /
`--screenshot` with `--virtual-time-budget` returns Streamlit's loading skeleton, because virtual
time does not wait for the app's websocket. A page counts as settled when its script has
finished, no skeleton is left and nothing changed for a second; the time reported is from the
navigation to the first of those still moments (the second of stillness is not counted).

Knob latency (`LATENCY_JS`, `Browser.time_slider_move`, used by benchmarks/bench_browser.py and
the browser tests): a script installed before the app loads timestamps, in the page's own clock,
every key press, every websocket message sent and received and every visible change in the main
area (DOM changes, and paints of a table's canvas); a move's latency is key press -> the last
change of the rerun, and its parts show where the time goes (browser -> server, the server's
rerun and deltas, the browser's drawing); the script also notes each script_finished message (a
field of Streamlit's ForwardMsg protobuf), so that a move counts as answered only once the server
has finished its run, whatever pauses a busy machine puts between the messages.
`Browser.wait_answered` waits for the same after any action (a click, a key press): the tests use
it instead of fixed sleeps. `new_tab()` opens more sessions in the same Chromium.
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
    "": "Overview", "recommendations": "Recommendations", "basket": "Basket what-if", "similar-items": "Similar items",
    "segments": "Segments", "popularity": "Popularity", "evaluation": "Evaluation", "data": "Data and training",
}
FINISHED_EARLY_FOR_RERUN = 2  # ForwardMsg.script_finished of a run cut short by a newer rerun request
STEADY_POLLS, POLL_S = 4, 0.25  # a settled page: the same state and text for 4 polls 0.25 s apart

STATE_JS = """(() => {
  const q = s => document.querySelector(s);
  if (!q('[data-testid="stApp"]') || q('[data-testid="stAppSkeleton"]')) return 'loading';
  // the script's state is on stApp; the status widget may show only an icon (aria-label, not text)
  const run = q('[data-testid="stApp"]').dataset.testScriptState;
  if (run === 'running' || run === 'rerunRequested') return 'running';
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


# Installed before the app's own scripts (Page.addScriptToEvaluateOnNewDocument): timestamps of
# key presses, websocket traffic and DOM changes in the main area (the moved slider's own
# changes left out: they are the input, not the answer).
LATENCY_JS = """(() => {
  const T = window.__lat = {keys: [], sends: [], recvs: [], muts: [], list: [], what: [], done: []};
  const now = () => performance.now();
  // the status of a ForwardMsg's script_finished (field 6, a varint) if it is one, else -1
  const finished = data => {
    if (!(data instanceof ArrayBuffer)) return -1;
    const b = new Uint8Array(data);
    let i = 0;
    const varint = () => { let x = 0, m = 1, c; do { c = b[i++]; x += (c & 127) * m; m *= 128; } while (c & 128 && i < b.length); return x; };
    while (i < b.length) {
      const key = varint(), field = Math.floor(key / 8), type = key & 7;
      if (type === 0) { const v = varint(); if (field === 6) return v; }
      else if (type === 2) i += varint();
      else if (type === 1) i += 8;
      else if (type === 5) i += 4;
      else return -1;
    }
    return -1;
  };
  const Orig = window.WebSocket;
  function Patched(...args) {
    const ws = new Orig(...args);
    ws.addEventListener('message', e => {
      const t = now();
      T.recvs.push([t, e.data.byteLength || e.data.size || e.data.length || 0]);
      const status = finished(e.data);
      if (status >= 0) T.done.push([t, status]);
    });
    const send = ws.send.bind(ws);
    ws.send = d => { T.sends.push([now(), d.byteLength || d.size || d.length || 0]); return send(d); };
    return ws;
  }
  Patched.prototype = Orig.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Patched[k] = Orig[k];
  window.WebSocket = Patched;
  addEventListener('keydown', () => T.keys.push(now()), true);
  const LIST = '[data-testid="stDataFrame"], [data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"], [data-testid="stHtml"]';
  const change = (t, what, list) => { T.muts.push(t); T.what.push(what); if (list) T.list.push(t); };
  // st.dataframe paints its cells on a canvas: a paint on the grid's canvas is a visible change
  const C = CanvasRenderingContext2D.prototype;
  for (const name of ['fillText', 'drawImage']) {
    const orig = C[name];
    C[name] = function (...args) {
      const c = this.canvas;
      if (c && c.isConnected && c.closest('[data-testid="stDataFrame"]')) change(now(), 'stDataFrame canvas ' + name, true);
      return orig.apply(this, args);
    };
  }
  const watch = () => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) { setTimeout(watch, 50); return; }
    new MutationObserver(records => {
      const t = now();
      for (const r of records) {
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        // the moved slider is the input, not the answer; the grid's hidden accessibility table
        // follows its canvas 200 ms later by design (a debounce in glide-data-grid)
        if (!el || el.closest('[data-testid="stSlider"], [data-testid="stDataFrame"] table')) continue;
        const box = el.closest('[data-testid^="st"]');
        change(t, (box ? box.dataset.testid : '?') + ' ' + el.tagName + ' ' + r.type + ' ' + (r.attributeName || ''),
               !!el.closest(LIST));
        break;
      }
    }).observe(main, {subtree: true, childList: true, characterData: true, attributes: true});
  };
  watch();
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

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000,
                 target: tuple[int, str] | None = None) -> None:
        from websockets.sync.client import connect

        self.proc = None
        if target is None:  # a Chromium of its own; else (DevTools port, page id) of another's tab
            self.proc = launch_chromium(profile, width, height)
            target = _first_page(self.proc)
        self.port, page = target
        self.target_id = page
        self._connection = connect(f"ws://127.0.0.1:{self.port}/devtools/page/{page}", max_size=None,
                                   open_timeout=10)
        self.ws = self._connection.__enter__()
        self.ids = itertools.count(1)
        self.width, self.height = width, height
        self.call("Page.enable")
        self.resize(height)

    def new_tab(self) -> "Browser":
        """Another session in the same Chromium: a page in a window of its own (a background tab
        would not paint, so its canvas would never show a change)."""
        page = self.call("Target.createTarget", url="about:blank", newWindow=True)["targetId"]
        return Browser(Path(), self.width, self.height, target=(self.port, page))

    def call(self, method: str, timeout: float = 120.0, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=timeout))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str, await_promise: bool = False):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
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

    def instrument(self) -> None:
        """Time key presses, websocket traffic and visible changes on every page opened from now on."""
        self.call("Page.addScriptToEvaluateOnNewDocument", source=LATENCY_JS)

    def wait_settled(self, timeout: float = 45.0) -> dict:
        """The page's facts once it holds still (after a navigation or a click made elsewhere)."""
        state, _ = self.settle(time.perf_counter(), timeout)
        return self.facts(state)

    def facts(self, state: str | None = None) -> dict:
        facts = json.loads(self.js(FACTS_JS))
        facts["state"] = state if state is not None else self.js(STATE_JS)
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

    def focus_slider(self, label: str) -> tuple[float, float, float]:
        """Focus the (first) thumb of the slider with this label; (its value, min, max)."""
        found = self.js(f"""(() => {{
          const s = [...document.querySelectorAll('[data-testid="stSlider"]')]
            .find(e => (e.querySelector('label') || e).innerText.trim().startsWith({json.dumps(label)}));
          const thumb = s && s.querySelector('input[type="range"], [role="slider"]');
          if (!thumb) return null;
          thumb.scrollIntoView({{block: 'center'}}); thumb.focus();
          if (document.activeElement !== thumb) return null;
          return [+thumb.value, +thumb.min, +thumb.max];
        }})()""")
        if not found:
            raise RuntimeError(f"no slider labelled {label!r} on the page")
        return tuple(found)

    def main_thread_s(self) -> dict[str, float]:
        """CPU seconds the page's main thread has spent so far: all tasks, scripts, layout, style."""
        if not getattr(self, "_perf", False):
            self.call("Performance.enable", timeDomain="threadTicks")
            self._perf = True
        m = {x["name"]: x["value"] for x in self.call("Performance.getMetrics")["metrics"]}
        return {k: m.get(k, 0.0) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}

    def time_slider_move(self, label: str, right: bool | None = True, quiet_s: float = 0.5,
                         timeout: float = 20.0, server_pid: int | None = None) -> dict:
        """Move a slider one step by keyboard; wait for the rerun to finish; its timings in seconds.

        `right=None`: right unless the slider is at its maximum. Needs `instrument()` before the
        page was opened. `total_s` is the key press to the last visible change of the rerun (the
        list's table and charts, the metrics), in the page's own clock; with `server_pid`, also
        the CPU the server spent meanwhile."""
        value, _, top = self.focus_slider(label)
        if right is None:
            right = value < top
        self.mark()
        cpu0, server0 = self.main_thread_s(), process_cpu_s(server_pid)
        self.press("ArrowRight" if right else "ArrowLeft", 39 if right else 37)
        try:
            t = self.wait_answered(quiet_s=quiet_s, timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"moving {label!r}: the page did not settle in {timeout:.0f} s") from None
        cpu = self.main_thread_s()
        out = _move_timings(t)
        out.update({f"browser_{k.replace('Duration', '').lower()}_cpu_s": round(cpu[k] - cpu0[k], 4) for k in cpu})
        if server_pid is not None:  # the polls add a little of their own
            out["server_cpu_s"] = round(process_cpu_s(server_pid) - server0, 4)
        return out

    def mark(self) -> None:
        """Forget what the instrumentation recorded so far: `wait_answered` then waits for what the
        next action (a key press, a click) sets off. Needs `instrument()` before the page was opened."""
        self.js("(() => { const T = window.__lat; for (const k in T) T[k].length = 0; })()")

    def wait_answered(self, quiet_s: float = 0.5, timeout: float = 20.0, key: bool = True) -> dict:
        """After `mark()` and an action: wait until the browser has sent the server a message (after a
        key press, unless `key=False`), the server has finished the script run it asked for (its
        script_finished message), the page no longer shows a running script and nothing has arrived
        or changed in the main area for `quiet_s`; what was recorded (page clock, ms). Polls; no
        fixed wait. TimeoutError if that does not happen in `timeout` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.05)
            t = json.loads(self.js("""JSON.stringify({now: performance.now(), keys: __lat.keys, sends: __lat.sends,
              recvs: __lat.recvs, muts: __lat.muts, list: __lat.list, what: __lat.what.slice(-1), done: __lat.done,
              running: /running|rerunRequested/.test(document.querySelector('[data-testid="stApp"]').dataset.testScriptState)
                       || /running|connecting/i.test((document.querySelector('[data-testid="stStatusWidget"]') || {}).innerText || '')})"""))
            if (key and not t["keys"]) or not t["sends"] or not t["recvs"] or t["running"]:
                continue
            # the server has finished the run the last message asked for (not one cut short for a
            # newer rerun): a pause of the server's, however long, is never taken for the end
            if not any(at >= t["sends"][-1][0] and status != FINISHED_EARLY_FOR_RERUN for at, status in t["done"]):
                continue
            last = max([t["recvs"][-1][0]] + t["muts"][-1:])
            if t["now"] - last >= quiet_s * 1000:
                return t
        raise TimeoutError(f"the page did not answer and settle in {timeout:.0f} s")

    def screenshot(self, path: Path, height: int) -> None:
        """The whole page (Streamlit scrolls inside the page, so the viewport is made tall enough)."""
        import base64

        self.resize(max(self.height, min(int(height) + 40, 6000)))
        self.hold_still()  # whatever re-lays out to the new size (charts) has done so
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        self.resize(self.height)

    def hold_still(self, polls: int = 3, every_s: float = 0.1, timeout: float = 10.0) -> bool:
        """Wait for two painted frames, then until the page's text, element count, height and (when
        instrumented) number of changes in the main area stay the same for `polls` polls; False
        if it still changes after `timeout` seconds."""
        self.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
                await_promise=True)
        sig_js = (f"{SIGNATURE_JS} + ':' + document.documentElement.scrollHeight + ':' "
                  "+ (window.__lat ? window.__lat.muts.length : 0)")
        deadline, same, last = time.time() + timeout, 0, None
        while time.time() < deadline:
            sig = self.js(sig_js)
            same = same + 1 if sig == last else 0
            if same >= polls:
                return True
            last = sig
            time.sleep(every_s)
        return False

    def open_in_new_tab(self, url: str, timeout: float = 45.0) -> dict:
        """`open` in a new tab of this Chromium, as a link sent to a colleague opens (a new session,
        the browser's cache warm); the tab is closed after."""
        page = self.call("Target.createTarget", url="about:blank", newWindow=True)["targetId"]
        tab = Browser(Path(), self.width, self.height, target=(self.port, page))
        try:
            return tab.open(url, timeout)
        finally:
            tab.close()
            self.call("Target.closeTarget", targetId=page)

    def close(self) -> None:
        """Chromium stopped (the browser launched it) or the tab closed (`new_tab`)."""
        if self.proc is None:
            try:
                self.call("Target.closeTarget", timeout=10, targetId=self.target_id)
            except Exception:  # noqa: BLE001 - closing what may be gone already
                pass
        try:
            self._connection.__exit__(None, None, None)
        finally:
            if self.proc is not None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()


def _move_timings(t: dict) -> dict:
    """Seconds from the key press to: the client's message, the server's first and last reply,
    the last DOM change (all of it, and of the list's table and charts)."""
    key = t["keys"][0]
    send = t["sends"][0][0]
    recvs = [r for r in t["recvs"] if r[0] >= send]
    last = max([recvs[-1][0]] + [m for m in t["muts"] if m >= key])
    lst = [m for m in t["list"] if m >= key]
    s = lambda ms: round(ms / 1000.0, 4)  # noqa: E731
    return {"total_s": s(last - key), "to_send_s": s(send - key), "server_first_s": s(recvs[0][0] - send),
            "server_last_s": s(recvs[-1][0] - send), "render_after_last_msg_s": s(last - recvs[-1][0]),
            "list_changed_s": s(lst[-1] - key) if lst else None, "messages": len(recvs),
            "bytes": int(sum(r[1] for r in recvs)), "last_change": (t.get("what") or [""])[-1]}


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (and its reaped children) so far; 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def launch_chromium(profile: Path, width: int = 1400, height: int = 1000) -> subprocess.Popen:
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    return subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_own_memory_limit)


def _first_page(proc: subprocess.Popen) -> tuple[int, str]:
    """(DevTools port, id of the first page) of a Chromium just launched."""
    deadline, port = time.time() + 30, None
    while port is None and time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError("chromium exited before it listened")
        m = re.search(r"DevTools listening on ws://[^/]+:(\d+)/", line)
        if m:
            port = int(m.group(1))
    if port is None:
        raise RuntimeError("chromium did not listen in 30 s")
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
    return port, next(t["id"] for t in targets if t["type"] == "page")


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
    """Every page opened in headless Chromium (seconds from navigation to a settled page), three
    times: `first` opens each page on a fresh server (the bundle loaded by the first page), `warm`
    again in the same tab, `new_tab` each from its URL in a new tab (a shared link); then the list
    size knob moved `knob_moves` times in the browser (fragment reruns)."""
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
    out: dict = {"pages_first_s": {}, "pages_warm_s": {}, "pages_new_tab_s": {}, "problems": []}
    try:
        for label, key in (("first", "pages_first_s"), ("warm", "pages_warm_s"), ("new tab", "pages_new_tab_s")):
            for path, title in PAGES.items():
                url = f"{base}/{path}?source={source}"
                # "new tab": each page from its URL in a tab of its own, as a shared link opens
                facts = browser.open_in_new_tab(url, timeout=180) if label == "new tab" else browser.open(url, timeout=180)
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
    out["slowest_new_tab_s"] = max(out["pages_new_tab_s"].values(), default=None)
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
