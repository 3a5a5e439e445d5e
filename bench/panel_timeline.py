"""When each flag and card first appears on the agent panel during the demo call.

Runs `python -m assist run` on the bundled demo call at real speed, opens the agent
panel in Chromium and records, with a MutationObserver in the page, the call time
(the panel's own clock) at which each alert, card, mood level and pace state first
shows.  `python bench/panel_timeline.py` prints a table and writes
build/panel_timeline.json; the README's flag times come from it.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

WATCH = """() => {
  // Only a call that starts after we watch: one joined midway shows its past at once.
  const before = new Set(window.__assist.calls.keys());
  const seen = (window.__seen = {});
  const fresh = () => [...window.__assist.calls.values()].find((c) => !before.has(c.id));
  const mark = (key) => {
    const c = fresh();
    if (!c || key in seen) return;
    const t = c.lastT + Math.max(0, (performance.now() - c.lastWall) / 1000);
    seen[key] = Math.round(10 * t) / 10;
  };
  const look = () => {
    for (const a of document.querySelectorAll(".alert")) {
      const title = a.querySelector(".alert-title").textContent.replace(/[0-9.]+/g, "N");
      mark(`alert ${a.dataset.kind}: ${title}`);
    }
    for (const c of document.querySelectorAll(".card")) {
      mark(`card ${c.dataset.id}: ${c.querySelector(".say").textContent}`);
    }
    const m = document.querySelector("[data-test=mood]");
    if (m) mark(`mood ${m.dataset.level}`);
    const p = document.querySelector("[data-test=pace]");
    if (p) mark(`pace meter ${p.className.split(" ").at(-1)}`);
  };
  new MutationObserver(look).observe(document.getElementById("root"),
                                    {childList: true, subtree: true});
}"""


async def measure(speed: float = 1.0) -> dict[str, float]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "assist.toml"
        cfg.write_text(f'data_dir = "{Path(tmp) / "data"}"\n', encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "assist", "--config", str(cfg), "run",
                                 "--port", "0", "--speed", str(speed)], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            url = next(m.group(1) for line in proc.stdout
                       if (m := re.search(r"agent panel.*?(https?://\S+)", line)))
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                pg = await browser.new_page(viewport={"width": 390, "height": 768})
                await pg.goto(url)
                await pg.wait_for_selector("#status[data-state=live]")
                await pg.evaluate(WATCH)
                # Until the first call that started under watch has ended (the demo loops).
                await pg.wait_for_function(
                    "() => Object.keys(window.__seen).length > 0 && "
                    "[...window.__assist.calls.values()].filter(c => !c.active).length >= "
                    "(window.__assist.calls.size - 1) && "
                    "[...window.__assist.calls.values()].at(-1).active === false",
                    timeout=0, polling=500)
                seen = await pg.evaluate("window.__seen")
                await browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return dict(sorted(seen.items(), key=lambda kv: kv[1]))


if __name__ == "__main__":
    res = asyncio.run(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0))
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "panel_timeline.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for k, v in res.items():
        print(f"{v:6.1f} s  {k}")
