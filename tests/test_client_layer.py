"""doku.client's layer rule, checked in a fresh interpreter: it loads only the shared
vocabulary (doku.errors, doku.models, doku.settings, doku.masking) and HTTP libraries;
never pandas or any other heavy or higher-layer module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import doku.client

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_DOKU = {"doku", "doku.errors", "doku.models", "doku.settings", "doku.masking"}
FORBIDDEN = ("pandas", "pyarrow", "numpy", "altair", "openpyxl", "streamlit")


def test_client_modules_import_only_the_vocabulary() -> None:
    modules = sorted(p.stem for p in Path(doku.client.__file__).parent.glob("*.py"))
    assert modules == [
        "__init__", "aio", "aio_wire", "auth", "bounded", "deadline", "lean", "loops", "pacing",
        "retry",
        "signing", "status", "tokens", "wire",
    ]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module('doku.client' + ('' if m == '__init__' else '.' + m))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    doku_modules = {m for m in loaded if m == "doku" or m.startswith("doku.")}
    assert doku_modules - ALLOWED_DOKU == {
        "doku.client", *(f"doku.client.{m}" for m in modules if m != "__init__")
    }
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
