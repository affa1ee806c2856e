"""Messages of the core speak of inputs and options by their declared names, never by one
surface's spelling; the CLI renders option names as its flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ccpl_core
from ccpl_core.errors import for_cli

CORE = Path(ccpl_core.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
#: Flags of other programs that a message may quote.
OTHER_PROGRAMS = {"--force-reinstall"}


def _strings(tree: ast.AST):
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and id(node) not in docstrings:
            yield node


def test_core_messages_name_no_command_line_flags():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        if "cli" in path.relative_to(CORE).parts:
            continue  # the command line may speak of its own flags
        tree = ast.parse(path.read_text())
        for node in _strings(tree):
            flags = set(FLAG.findall(node.value)) - OTHER_PROGRAMS
            if flags:
                found.append(f"{path.relative_to(CORE)}:{node.lineno}: {sorted(flags)}")
    assert found == []


def test_option_names_become_flags_on_the_command_line():
    msg = "use a smaller `size` or `max_pixels`, or `device` cpu; keep `this` as text: `a b`"
    assert for_cli(msg) == (
        "use a smaller --size or --max-pixels, or --device cpu; keep --this as text: `a b`"
    )
