"""The A/B comparison end to end in a real browser, as an analyst does it: on Recommendations the
upsell factor and the price-boost weight are moved to 1.0 with the keyboard, the knobs are saved
under a name in the sidebar, and on Evaluation the trained configuration (A) is compared with the
saved one (B). A manual check, not a CI test (it trains the store first: the workbook is not
shipped).

    python -m benchmarks.browser_compare --data "../shared/data/Data Science - Assignment.xlsx"

`streamlit run app.py` on a free port over a temporary data folder that links to the file (the
file is never copied), its bundle trained first; headless Chromium over the DevTools protocol
(benchmarks/browser.py). A screenshot of each step goes to screenshots/compare-*.png
(git-ignored). Fails (exit 1) on an exception box, an error message, a knob that does not reach
1.0 or a comparison that does not appear; prints the timings and the comparison's headline as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.browser import Browser, start_server, stop
from benchmarks.browser_own_data import BUTTON_JS, Problems

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "screenshots"
NAME = "upsell 1.0, price-boost 1.0"
KNOBS = {"Upsell factor": 1.0, "Price-boost weight": 1.0}

def _shot(browser: Browser, name: str) -> None:
    browser.screenshot(SHOTS / f"compare-{name}.png", browser.facts()["height"])


def set_slider(browser: Browser, label: str, target: float, step: float = 0.05) -> float:
    """Move a slider to `target` with the arrow keys, a step at a time, as a person would."""
    value = browser.focus_slider(label)[0]
    for _ in range(int(round(abs(target - value) / step))):
        right = target > value
        browser.press("ArrowRight" if right else "ArrowLeft", 39 if right else 37)
        time.sleep(0.05)
    browser.wait_settled(60)
    return browser.focus_slider(label)[0]


def pick_option(browser: Browser, label: str, option: str) -> None:
    """Open a selectbox (found by its label) with the down arrow and click one of its options.
    (Typing and Enter, as in browser_own_data, leaves this combobox's value unchanged.)"""
    if not browser.js(f"""(() => {{
      const box = [...document.querySelectorAll('[data-testid="stSelectbox"]')]
        .find(e => (e.querySelector('label') || e).innerText.trim() === {json.dumps(label)});
      const input = box && box.querySelector('input');
      if (!input) return false;
      input.scrollIntoView({{block: 'center'}}); input.focus(); return true; }})()"""):
        raise RuntimeError(f"no selectbox {label!r}")
    for _ in range(3):  # the list opens on the down arrow (once the widget has settled)
        for kind in ("rawKeyDown", "keyUp"):
            browser.call("Input.dispatchKeyEvent", type=kind, key="ArrowDown", code="ArrowDown",
                         windowsVirtualKeyCode=40)
        time.sleep(0.8)
        if browser.js("document.querySelectorAll('[role=\"option\"]').length"):
            break
    if not browser.js(f"""(() => {{ const o = [...document.querySelectorAll('[role="option"]')]
        .find(o => o.innerText.trim() === {json.dumps(option)});
        if (!o) return false; o.click(); return true; }})()"""):
        offered = browser.js("[...document.querySelectorAll('[role=\"option\"]')].map(o => o.innerText)")
        raise RuntimeError(f"{label!r} offers no option {option!r} (it offers {offered})")
    browser.wait_settled(60)


def type_into(browser: Browser, label: str, text: str) -> None:
    """Type into a text input (found by its label) and press Enter."""
    if not browser.js(f"""(() => {{
      const box = [...document.querySelectorAll('[data-testid="stTextInput"]')]
        .find(e => (e.querySelector('label') || e).innerText.trim() === {json.dumps(label)});
      const input = box && box.querySelector('input');
      if (!input) return false;
      input.scrollIntoView({{block: 'center'}}); input.focus(); return true; }})()"""):
        raise RuntimeError(f"no text input {label!r}")
    browser.call("Input.insertText", text=text)
    for kind in ("rawKeyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
    browser.wait_settled(60)


def prepare(data: Path, work: Path) -> tuple[dict[str, str], str]:
    """A data folder linking to the file, and its bundle trained (as the Data page would)."""
    from recsys import train
    from ui.sources import slugify

    (work / "data").mkdir(parents=True)
    link = work / "data" / data.name
    link.symlink_to(data)
    key = slugify(data.name)
    train(str(link), out_dir=str(work / "artifacts" / key))
    return {"RECSYS_ARTIFACTS": str(work / "artifacts"), "RECSYS_DATA_DIR": str(work / "data"),
            "RECSYS_CACHE_DIR": str(ROOT / ".cache" / "recsys")}, key


def run(data: Path, work: Path) -> tuple[dict, list[str]]:
    SHOTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    env, key = prepare(data, work)
    times: dict = {"train_s": round(time.perf_counter() - t0, 1)}
    proc, base = start_server(env, work / "streamlit.log")
    browser = Browser(work / "chromium-profile", height=1100)
    problems = Problems()
    try:
        browser.open(f"{base}/recommendations?source={key}", timeout=180)
        problems.check(browser, "Recommendations")
        for label, target in KNOBS.items():
            got = set_slider(browser, label, target)
            if got is None or abs(got - target) > 1e-9:
                problems.append(f"{label}: {got} after moving it to {target}")
        browser.js("[...document.querySelectorAll('[data-testid=\"stExpander\"] summary')]"
                   ".find(s => s.innerText.includes('Saved configurations')).click()")
        time.sleep(0.5)
        type_into(browser, "Save the current knobs as", NAME)
        browser.js(BUTTON_JS % json.dumps("Save"))
        browser.wait_settled(60)
        saved = Path(env["RECSYS_ARTIFACTS"]) / key / "configs" / f"{NAME}.toml"
        if not saved.exists():
            problems.append("the sidebar's Save wrote no configuration file")
        _shot(browser, "1-knobs-saved")
        problems.check(browser, "after saving")

        browser.open(f"{base}/evaluation?source={key}", timeout=180)
        pick_option(browser, "B", NAME)
        changes = browser.js("[...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
                             ".map(e => e.innerText).find(t => t.startsWith('B changes'))")
        times["b_changes"] = changes
        if not changes or "upsell_factor" not in changes:
            problems.append(f"B is not the saved configuration: {changes!r}")
        result = Path(env["RECSYS_ARTIFACTS"]) / key / "evaluation" / "compare.json"
        t1 = time.perf_counter()
        browser.js(BUTTON_JS % json.dumps("Compare"))
        while not result.exists() and time.perf_counter() - t1 < 600:
            time.sleep(0.5)
        browser.wait_settled(120)
        times["compare_s"] = round(time.perf_counter() - t1, 1)
        if not result.exists():
            problems.append("no comparison after 600 s")
        problems.check(browser, "Evaluation after the comparison")
        metrics = browser.js("[...document.querySelectorAll('[data-testid=\"stMetric\"]')].map(m => m.innerText)")
        times["metrics"] = [" ".join(m.split()) for m in metrics]
        if not any("Lists overlap" in m for m in metrics):
            problems.append("the comparison's headline is not on the page")
        if result.exists():
            comp = json.loads(result.read_text())["comparison"]
            times["compared"] = f"A = {comp['a']}, B = {comp['b']}"
            if comp["b"] != NAME:
                problems.append(f"B was {comp['b']!r}, not the saved configuration")
        _shot(browser, "2-evaluation")
    finally:
        browser.close()
        stop(proc)
    return times, list(problems)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "Data Science - Assignment.xlsx")
    args = p.parse_args(argv)
    if not args.data.is_file():
        print(f"no file at {args.data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="browser-compare-") as tmp:
        times, problems = run(args.data.resolve(), Path(tmp))
    print(json.dumps({"times": times, "problems": problems}, indent=2))
    print(f"screenshots: {SHOTS}/compare-*.png")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
