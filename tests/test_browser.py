"""What a user sees in the real ComfyUI frontend (headless Chromium): the nodes found by search,
their help pages with pictures, every template loading whole, and a queued run's picture.

Needs the real ComfyUI of test_comfyui.py (COMFYUI_DIR), Chromium ($CCPL_CHROMIUM or
/usr/bin/chromium) and Playwright; scripts/comfyui.sh sets up all three.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import comfy_harness as harness
import frontend
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (harness.comfyui_dir() and frontend.chromium()),
    reason="needs COMFYUI_DIR and Chromium (scripts/comfyui.sh sets both up)",
)
DOCS = ROOT / "web" / "docs"
TEMPLATES = sorted((ROOT / "example_workflows").glob("*.json"))
NODE_IDS = sorted(p.stem for p in DOCS.glob("*.md"))


@pytest.fixture(scope="module")
def page(comfyui):
    pytest.importorskip("playwright")
    # a first visit would open the template browser over the canvas
    harness.post(f"{comfyui.url}/settings/Comfy.TutorialCompleted", True)
    with frontend.open_app(comfyui.url) as page:
        page.failed = []
        page.on("response", lambda r: page.failed.append(r.url) if r.status >= 400 else None)
        yield page


def test_searching_style_transfer_finds_the_nodes(page, comfyui):
    page.keyboard.press("Escape")
    page.evaluate("() => app.graph.clear()")
    page.mouse.dblclick(900, 600)  # an empty spot of the canvas opens the node search
    page.keyboard.type("style transfer")
    page.wait_for_selector("li.p-autocomplete-option")
    time.sleep(0.5)  # the result list settles
    found = page.eval_on_selector_all(
        "li.p-autocomplete-option", "items => items.map(i => i.innerText.split('\\n')[0].trim())"
    )
    page.keyboard.press("Escape")
    names = {
        n: comfyui.info[n]["display_name"]
        for n in comfyui.info
        if n.startswith(("CCPL", "LoadSCT"))
    }
    expected = {name for node_id, name in names.items() if "Style Transfer" in name}
    assert len(expected) == 5 and expected <= set(found), found


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_help_page_renders_with_its_pictures(page, node_id):
    text = (DOCS / f"{node_id}.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    page.keyboard.press("Escape")
    page.evaluate(
        """(type) => { app.graph.clear(); const n = LiteGraph.createNode(type); n.pos = [300, 250];
        app.graph.add(n); app.canvas.selectNode(n); app.canvas.setDirty(true, true); }""",
        node_id,
    )
    # the toolbox's info button (dispatched: the help panel of the previous node may cover it)
    page.locator(".selection-toolbox button:has(i[class*='info'])").first.dispatch_event("click")
    heading = text.splitlines()[0].lstrip("# ").strip()
    help_panel = page.locator(".node-help-content, [class*='node-help']").first
    help_panel.wait_for()
    page.wait_for_function(
        "(h) => [...document.querySelectorAll('h1')].some(e => e.innerText.trim() === h)",
        arg=heading,
    )
    for picture in pictures:
        img = page.locator(f"img[src$='{picture}']").first
        img.wait_for()
        page.wait_for_function("(e) => e.complete && e.naturalWidth > 0", arg=img.element_handle())
    page.keyboard.press("Escape")


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_template_loads_whole_and_keeps_its_widget_values(page, comfyui, path):
    workflow = json.loads(path.read_text())
    needs = {n["type"] for n in workflow["nodes"]}
    if not needs <= set(comfyui.info):
        assert all(t.startswith("VHS_") for t in needs - set(comfyui.info)), needs
        pytest.skip("VideoHelperSuite is not installed")
    saved = page.evaluate(
        """async (wf) => { await app.loadGraphData(wf);
        const missing = app.graph._nodes.filter(n => !LiteGraph.registered_node_types[n.type]);
        return {missing: missing.map(n => n.type),
                workflow: JSON.stringify((await app.graphToPrompt()).workflow)}; }""",
        workflow,
    )
    assert saved["missing"] == []
    again = {n["id"]: n for n in json.loads(saved["workflow"])["nodes"]}
    for node in workflow["nodes"]:
        kept = again[node["id"]].get("widgets_values") or []
        assert kept == (node.get("widgets_values") or []), node["type"]
    dialogs = page.locator(".p-dialog:visible").all_inner_texts()
    assert not any("missing" in d.lower() for d in dialogs), dialogs


def test_queue_button_runs_the_image_template_and_shows_its_picture(page, comfyui):
    workflow = json.loads((ROOT / "example_workflows/ccpl_image_stylize.json").read_text())
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    (save,) = [n["id"] for n in workflow["nodes"] if n["type"] == "SaveImage"]
    page.locator("button:has-text('Run'), button:has-text('Queue')").first.dispatch_event("click")
    page.wait_for_function(
        """(id) => { const n = app.graph.getNodeById(id); const img = n && n.imgs && n.imgs[0];
        return img && img.complete && img.naturalWidth > 0; }""",
        arg=save,
        timeout=600_000,
    )
    shown = page.evaluate("(id) => app.graph.getNodeById(id).imgs[0].src", save)
    assert "ccpl_stylized" in shown


def test_no_console_errors_or_failed_requests_from_the_pack(page):
    ours = [e for e in page.console_errors if re.search(r"ccpl|ComfyUI-CCPL", e, re.I)]
    assert ours == []
    # the frontend asks for docs/<node>/<locale>.md first and falls back to docs/<node>.md, which
    # the help test saw rendered: those probes are the frontend's, not failures of the pack
    probe = re.compile(r"/extensions/ComfyUI-CCPL/docs/[A-Za-z]+/[a-z-]+\.md$")
    failed = [u for u in page.failed if re.search("ccpl", u, re.I) and not probe.search(u)]
    assert failed == []
