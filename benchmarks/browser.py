"""A headless Chromium driven over the DevTools protocol, and a `streamlit run app.py` to point it at.

Shared by the browser tests (tests/test_browser.py) and the browser benchmarks
(benchmarks/bench_browser.py, benchmarks/browser_own_data.py): just what they need, no Selenium.
The one-shot `--dump-dom` / `--screenshot` with `--virtual-time-budget` returns Streamlit's
loading skeleton (virtual time does not wait for the app's websocket), so a page is read only
once its script has finished and every widget has rendered (`STATE_JS`).

Knob latency (`LATENCY_JS`, `Browser.move_slider`): a script installed before the app loads
timestamps, in the page's own clock, every key press, every websocket message sent and received
and every DOM change in the main area; a move's latency is key press -> the last DOM change of
the rerun, and its parts show where the time goes (client -> server, the server's rerun and
deltas, the browser's rendering).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

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

# Installed before the app's own scripts (Page.addScriptToEvaluateOnNewDocument): timestamps of
# key presses, websocket traffic and DOM changes in the main area (the moved slider's own
# changes left out: they are the input, not the answer).
LATENCY_JS = """(() => {
  const T = window.__lat = {keys: [], sends: [], recvs: [], muts: [], list: [], what: []};
  const now = () => performance.now();
  const Orig = window.WebSocket;
  function Patched(...args) {
    const ws = new Orig(...args);
    ws.addEventListener('message', e => T.recvs.push([now(), e.data.byteLength || e.data.size || e.data.length || 0]));
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A headless Chromium page over the DevTools protocol."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000,
                 target: tuple[int, str] | None = None) -> None:
        from websockets.sync.client import connect

        self.proc = None
        if target is None:  # a Chromium of its own; else (DevTools port, page id) of another's tab
            self.proc = launch_chromium(profile, width, height)
            target = _first_page(self.proc)
        self.port, page = target
        self._connection = connect(f"ws://127.0.0.1:{self.port}/devtools/page/{page}", max_size=None,
                                   open_timeout=10)
        self.ws = self._connection.__enter__()
        self.ids = itertools.count(1)
        self.width, self.height = width, height
        self.call("Page.enable")
        self.resize(height)

    def new_tab(self) -> "Browser":
        """Another page of the same Chromium (its own session storage and websocket to the app)."""
        page = self.call("Target.createTarget", url="about:blank", newWindow=True)["targetId"]
        return Browser(Path(), self.width, self.height, target=(self.port, page))

    def call(self, method: str, timeout: float = 60.0, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=timeout))
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

    def instrument(self) -> None:
        """Time key presses, websocket traffic and DOM changes on every page opened from now on."""
        self.call("Page.addScriptToEvaluateOnNewDocument", source=LATENCY_JS)

    def open(self, url: str, timeout: float = 45.0) -> dict:
        """Navigate and wait until the app has rendered and stayed still for a second."""
        self.resize(self.height)
        self.call("Page.navigate", url=url)
        return self.settle(timeout)

    def settle(self, timeout: float = 45.0, steady_polls: int = 4) -> dict:
        """Wait until the page is ready (or shows an error) for `steady_polls` polls in a row."""
        deadline, steady, state = time.time() + timeout, 0, "loading"
        while time.time() < deadline and steady < steady_polls:
            time.sleep(0.25)
            state = self.js(STATE_JS)
            steady = steady + 1 if state in ("ready", "error") else 0
        return self.facts(state)

    def facts(self, state: str | None = None) -> dict:
        facts = json.loads(self.js(FACTS_JS))
        facts["state"] = state if state is not None else self.js(STATE_JS)
        return facts

    def screenshot(self, path: Path, height: int) -> None:
        """The whole page (Streamlit scrolls inside the page, so the viewport is made tall enough)."""
        self.resize(max(self.height, min(int(height) + 40, 6000)))
        time.sleep(1.2)  # charts re-layout to the new size
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        self.resize(self.height)

    def press(self, key: str, code: int) -> None:
        """One key press (down and up) on the focused element."""
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                      nativeVirtualKeyCode=code)

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

    def move_slider(self, label: str, right: bool | None = True, quiet_s: float = 0.5, timeout: float = 20.0,
                    server_pid: int | None = None) -> dict:
        """Move a slider one step by keyboard; wait for the rerun to finish; its timings in seconds.

        `right=None`: right unless the slider is at its maximum. Needs `instrument()` before the
        page was opened. `total_s` is the key press to the last DOM change of the rerun (the list,
        its charts, the metrics), the page's own clock."""
        value, _, top = self.focus_slider(label)
        if right is None:
            right = value < top
        self.js("(() => { const T = window.__lat; for (const k in T) T[k].length = 0; })()")
        cpu0, server0 = self.main_thread_s(), process_cpu_s(server_pid)
        self.press("ArrowRight" if right else "ArrowLeft", 39 if right else 37)
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.05)
            t = json.loads(self.js("""JSON.stringify({now: performance.now(), keys: __lat.keys, sends: __lat.sends,
              recvs: __lat.recvs, muts: __lat.muts, list: __lat.list, what: __lat.what.slice(-1),
              running: /running|connecting/i.test((document.querySelector('[data-testid="stStatusWidget"]') || {}).innerText || '')})"""))
            if not t["keys"] or not t["sends"] or not t["recvs"] or t["running"]:
                continue
            last = max([t["recvs"][-1][0]] + t["muts"][-1:])
            if t["now"] - last >= quiet_s * 1000:
                cpu = self.main_thread_s()
                out = _move_timings(t)
                out.update({f"browser_{k.replace('Duration', '').lower()}_cpu_s": round(cpu[k] - cpu0[k], 4)
                            for k in cpu})
                if server_pid is not None:  # the polls above add a little of their own
                    out["server_cpu_s"] = round(process_cpu_s(server_pid) - server0, 4)
                return out
        raise TimeoutError(f"moving {label!r}: the page did not settle in {timeout:.0f} s")

    def close(self) -> None:
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
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


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


def start_server(env_vars: dict[str, str], log: Path, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port with these env vars; (process, base URL) once healthy."""
    port = free_port()
    env = {**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
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
    stop(proc)
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
