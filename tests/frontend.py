"""The real ComfyUI web frontend in headless Chromium (Debian's, driven by Playwright): used by
tests/test_browser.py and tools/save_templates.py."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

#: Flags for a closed network: without the background-networking ones Chromium keeps trying to
#: reach Google's services.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str | None:
    path = os.environ.get("CCPL_CHROMIUM", "/usr/bin/chromium")
    return path if os.path.isfile(path) else None


@contextlib.contextmanager
def open_app(url: str, timeout_ms: int = 120_000) -> Iterator:
    """A page with the ComfyUI app loaded (window.app ready, node definitions registered).

    ``page.console_errors`` collects the console's errors and the page's uncaught exceptions.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(timeout_ms)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.console_errors = errors
            page.goto(url)
            page.wait_for_function(
                "window.app && window.app.graph && window.LiteGraph && "
                "Object.keys(window.LiteGraph.registered_node_types).length > 50"
            )
            yield page
        finally:
            browser.close()


BUILD = """
async (spec) => {
  const graph = app.graph;
  graph.clear();
  const made = {};
  for (const [key, type, pos, widgets] of spec.nodes) {
    const node = LiteGraph.createNode(type);
    if (!node) throw new Error(`no node type ${type}`);
    node.pos = pos;
    const [cnr, ver] = spec.packs[type];
    // what ComfyUI-Manager records on every node it creates: which pack, at which version
    node.properties = { ...node.properties, cnr_id: cnr, ver: ver };
    graph.add(node);
    made[key] = node;
    for (const [name, value] of Object.entries(widgets)) {
      // "seed.control": the "control after generate" widget linked to the seed widget (its
      // name differs between frontend versions)
      const [own, linked] = name.split(".");
      let widget = (node.widgets || []).find((w) => w.name === own);
      if (widget && linked === "control") widget = (widget.linkedWidgets || [])[0];
      if (!widget) throw new Error(`${type} has no widget ${name}`);
      widget.value = value;
      widget.callback?.(value, app.canvas, node);  // as a user's edit: dependent widgets follow
    }
  }
  for (const [from, output, to, input] of spec.links) {
    const a = made[from], b = made[to];
    const o = a.outputs.findIndex((s) => s.name === output);
    const i = b.inputs.findIndex((s) => s.name === input);
    if (o < 0 || i < 0) throw new Error(`cannot link ${from}.${output} -> ${to}.${input}`);
    if (!a.connect(o, b, i)) throw new Error(`link refused: ${from}.${output} -> ${to}.${input}`);
  }
  graph.setDirtyCanvas(true, true);
  return JSON.stringify((await app.graphToPrompt()).workflow);
}
"""


def build(page, spec: dict, packs: dict[str, tuple[str, str]]) -> dict:
    """Build ``spec``'s graph in the frontend; the workflow as the frontend saves it.

    ``packs``: node type -> (Registry id, version) of the pack that provides it.
    """
    nodes = {n[1] for n in spec["nodes"]}
    arg = {"nodes": spec["nodes"], "links": spec["links"], "packs": {t: packs[t] for t in nodes}}
    return json.loads(page.evaluate(BUILD, arg))
