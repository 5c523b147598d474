"""The escaping rule, enforced: every argument ui/, pages/ and dashboard.py pass to a
Streamlit call that renders Markdown is literal text or goes through `escape_md`."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "dashboard.py", *sorted((ROOT / "pages").glob("*.py")),
           *sorted((ROOT / "ui").glob("*.py"))]

# -- 2. every Markdown argument of a Streamlit call ----------------------------------------
# Call attribute -> positions of its arguments that Streamlit renders as Markdown
# ("*" = all). Keywords in MARKDOWN_KEYWORDS are checked on every such call.
SINKS: dict[str, tuple[int, ...] | str] = {
    "markdown": (0,), "caption": (0,), "write": "*", "info": (0,), "warning": (0,),
    "error": (0,), "success": (0,), "toast": (0,), "exception": (), "title": (0,),
    "header": (0,), "subheader": (0,), "spinner": (0,), "progress": (1,), "status": (0,),
    "metric": (0, 1, 2), "badge": (0,), "page_link": (1,), "button": (0,),
    "download_button": (0,), "form_submit_button": (0,), "link_button": (0,),
    "checkbox": (0,), "toggle": (0,), "radio": (0, 1), "selectbox": (0,),
    "multiselect": (0,), "select_slider": (0, 1), "pills": (0, 1),
    "segmented_control": (0, 1), "text_input": (0,), "text_area": (0,),
    "number_input": (0,), "slider": (0,), "date_input": (0,), "time_input": (0,),
    "file_uploader": (0,), "color_picker": (0,), "camera_input": (0,), "expander": (0,),
    "popover": (0,), "tabs": (0,), "table": (0,), "dialog": (0,), "feedback": (),
    "chat_message": (0,),
}
MARKDOWN_KEYWORDS = {"body", "label", "help", "title", "text", "delta",
                     "delta_description", "caption"}
METRIC_KEYWORDS = {"value"}
NOT_STREAMLIT = {"log", "logger", "logging", "warnings", "parser", "exc"}
# Pure functions whose result is inert Markdown by construction (tested above, or only
# ever digits and fixed words): the only calls trusted without reading their body.
PRIMITIVES = {"escape_md", "fmt_time"}
NUMBER_BUILTINS = {"round", "int", "float", "len", "abs"}
SAFE_METHODS = {"upper", "lower", "capitalize", "title", "strip"}
NUMERIC_SPEC = re.compile(r"[,_]|[bdeEfFgGnoxX%]$")


@dataclass
class Module:
    path: Path
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def scope_of(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                return node
        return self.tree


MODULES = [Module(p, ast.parse(p.read_text(encoding="utf-8"))) for p in SOURCES]
FUNCTIONS: dict[str, tuple[Module, ast.FunctionDef]] = {
    node.name: (module, node)
    for module in MODULES for node in ast.walk(module.tree)
    if isinstance(node, ast.FunctionDef)
}


def constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Tuple | ast.List) and all(constant(e) for e in node.elts)


def all_caps(name: str) -> bool:
    return name.lstrip("_").isupper()


class Checker:
    """Is an expression inert Markdown? Names are followed to every binding in their
    scope; calls into ui/ or the page are followed to every return."""

    def __init__(self) -> None:
        self.verdicts: dict[str, bool] = {}

    def function_is_safe(self, name: str) -> bool:
        if name in PRIMITIVES:
            return True
        if name not in FUNCTIONS:
            return False
        if name not in self.verdicts:
            self.verdicts[name] = True  # assume while checking (recursion)
            module, func = FUNCTIONS[name]
            returns = [n for n in ast.walk(func) if isinstance(n, ast.Return)
                       and module.scope_of(n) is func]
            self.verdicts[name] = bool(returns) and all(
                r.value is not None and self.safe(r.value, module) for r in returns
            )
        return self.verdicts[name]

    def name_is_safe(self, node: ast.Name, module: Module) -> bool:
        if all_caps(node.id):
            return True
        scope = module.scope_of(node)
        if isinstance(scope, ast.FunctionDef | ast.Lambda):
            args = scope.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs,
                      *filter(None, [args.vararg, args.kwarg])]
            if any(a.arg == node.id for a in params):
                return False
        bindings = list(self.bindings(node.id, scope, module))
        return bool(bindings) and all(b is not None and self.safe(b, module)
                                      for b in bindings)

    def bindings(self, name: str, scope: ast.AST,
                 module: Module) -> Iterator[ast.expr | None]:
        """What `name` is bound to in `scope` (None: a binding that cannot be judged)."""
        for node in ast.walk(scope):
            if module.scope_of(node) is not scope and node is not scope:
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        yield node.value
                    elif any(isinstance(n, ast.Name) and n.id == name
                             for n in ast.walk(target)):
                        yield None
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(
                node.target, ast.Name
            ) and node.target.id == name:
                yield node.value
            elif isinstance(node, ast.For | ast.comprehension) and any(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.target)
            ):
                yield node.iter if constant(node.iter) else None
            elif isinstance(node, ast.NamedExpr | ast.withitem | ast.ExceptHandler):
                bound = getattr(node, "target", None) or getattr(node, "optional_vars", None)
                if (isinstance(bound, ast.Name) and bound.id == name) or (
                    isinstance(node, ast.ExceptHandler) and node.name == name
                ):
                    yield None
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == name
                  and node.func.attr in ("append", "extend", "insert")):
                yield node.args[-1] if node.args else None

    def safe(self, node: ast.AST, module: Module) -> bool:  # noqa: C901
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(self.safe(v, module) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            spec = node.format_spec
            spec_text = "" if spec is None else "".join(
                str(v.value) for v in getattr(spec, "values", []) if isinstance(v, ast.Constant)
            )
            if node.conversion == -1 and spec_text and NUMERIC_SPEC.search(spec_text):
                return True  # format() refuses a string with a numeric spec
            return node.conversion == -1 and self.safe(node.value, module)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, module) and self.safe(node.right, module)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, module) and self.safe(node.orelse, module)
        if isinstance(node, ast.BoolOp):
            return all(self.safe(v, module) for v in node.values)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(self.safe(e, module) for e in node.elts)
        if isinstance(node, ast.Dict):
            return all(k is None or self.safe(k, module) for k in node.keys) and all(
                self.safe(v, module) for v in node.values)
        if isinstance(node, ast.GeneratorExp | ast.ListComp):
            return self.safe(node.elt, module)
        if isinstance(node, ast.Name):
            return self.name_is_safe(node, module)
        if isinstance(node, ast.Attribute):
            return all_caps(node.attr)
        if isinstance(node, ast.Subscript):  # an item of a constant table
            return isinstance(node.value, ast.Name | ast.Attribute | ast.Subscript) and (
                self.safe(node.value, module))
        if isinstance(node, ast.Call):
            return self.call_is_safe(node, module)
        return False

    def call_is_safe(self, node: ast.Call, module: Module) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in NUMBER_BUILTINS or self.function_is_safe(func.id)
        if not isinstance(func, ast.Attribute):
            return False
        receiver = func.value
        if func.attr == "join":
            return self.safe(receiver, module) and all(self.safe(a, module) for a in node.args)
        if func.attr in SAFE_METHODS and not node.args:
            return self.safe(receiver, module)
        if func.attr == "replace" and all(constant(a) for a in node.args):
            return self.safe(receiver, module)
        if func.attr == "get" and isinstance(receiver, ast.Name | ast.Attribute) and all_caps(
            receiver.id if isinstance(receiver, ast.Name) else receiver.attr
        ):  # CONSTANT_TABLE.get(key[, default])
            return len(node.args) < 2 or self.safe(node.args[1], module)
        return self.function_is_safe(func.attr)


def markdown_arguments(call: ast.Call) -> Iterator[ast.expr]:
    func = call.func
    assert isinstance(func, ast.Attribute)
    positions = SINKS[func.attr]
    for i, arg in enumerate(call.args):
        if positions == "*" or i in positions:
            yield arg
    keywords = MARKDOWN_KEYWORDS | (METRIC_KEYWORDS if func.attr == "metric" else set())
    for kw in call.keywords:
        if kw.arg in keywords:
            yield kw.value


def streamlit_calls(module: Module) -> Iterator[ast.Call]:
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in NOT_STREAMLIT:
            continue
        if node.func.attr in SINKS:
            yield node


def unescaped(modules: list[Module], root: Path = ROOT) -> list[str]:
    """`file:line: argument` of every Markdown argument the check cannot prove inert."""
    checker = Checker()
    return [
        f"{module.path.relative_to(root)}:{arg.lineno}: {ast.unparse(arg)[:120]}"
        for module in modules
        for call in streamlit_calls(module)
        for arg in markdown_arguments(call)
        if not checker.safe(arg, module)
    ]


def test_every_markdown_argument_is_escaped_or_literal() -> None:
    problems = unescaped(MODULES)
    assert not problems, (
        "Untrusted text must reach Streamlit's Markdown through ui.present.escape_md "
        "(see ui/__init__.py):\n" + "\n".join(problems)
    )


def test_no_raw_html() -> None:
    for module in MODULES:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.keyword) and node.arg in ("unsafe_allow_html",
                                                               "allow_html"):
                pytest.fail(f"{module.path.name}:{node.value.lineno}: {node.arg}")
            if isinstance(node, ast.Attribute) and node.attr in ("html", "iframe"):
                pytest.fail(f"{module.path.name}:{node.lineno}: st.{node.attr}")


@pytest.mark.parametrize(("code", "safe"), [
    ('st.markdown("literal **bold**")', True),
    ('st.caption(f"Run #{run.id:d} · {n:,} rows")', True),
    ("st.caption(f\"Customer {escape_md(cid)}\")", True),
    ('st.caption(f"Customer {cid}")', False),
    ('st.caption(f"Run #{run.id}")', False),
    ('st.caption(f"{cid!r}")', False),
    ("st.warning(run.error)", False),
    ("st.warning(escape_md(run.error))", True),
    ("st.error(str(exc))", False),
    ('st.subheader(name or "x")', False),
    ('st.subheader(escape_md(name) or "x")', True),
    ("st.multiselect(attr, values)", False),
    ('st.multiselect(escape_md(attr), values, placeholder=f"All {attr}")', True),
    ('st.metric("X", fmt_int(n), help=f"{cid} fetched")', False),
    ('st.metric("X", value=name)', False),
    ('st.tabs([f"IDs ({n:,})", name])', False),
    ('st.table({"Base URL": url})', False),
    ('st.page_link("p.py", label=f"**{label}**")', False),
    ('st.progress(0.5, text=f"Reading {name}")', False),
    ('with st.spinner(f"Reading {escape_md(name)}"):\n    pass', True),
    ('log.error("x %s", cid)', True),
    ("x = escape_md(a)\nst.caption(x)", True),
    ('x = f"{a}"\nst.caption(x)', False),
    ("parts = [escape_md(a)]\nparts.append(b)\nst.caption(' · '.join(parts))", False),
    ("parts = [escape_md(a)]\nparts.append(escape_md(b))\nst.caption(' · '.join(parts))",
     True),
    ('for w, t in (("a", "A"), ("b", "B")):\n    st.button(f"{t} {w.upper()}")', True),
    ("for row in rows:\n    st.caption(row)", False),
    ('st.caption(", ".join(cols))', False),
    ('st.caption(", ".join(escape_md(c) for c in cols))', True),
    ("def f(x):\n    return escape_md(x)\nst.caption(f(y))", True),
    ("def g(x):\n    return x\nst.caption(g(y))", False),
    ("def h(x):\n    return 'ok' if x else x\nst.caption(h(y))", False),
])
def test_the_check_tells_escaped_from_raw(code: str, safe: bool, tmp_path: Path) -> None:
    path = tmp_path / "page.py"
    path.write_text(code, encoding="utf-8")
    module = Module(path, ast.parse(code))
    saved = dict(FUNCTIONS)
    try:
        FUNCTIONS.update({n.name: (module, n) for n in ast.walk(module.tree)
                          if isinstance(n, ast.FunctionDef)})
        problems = unescaped([module], tmp_path)
    finally:
        FUNCTIONS.clear()
        FUNCTIONS.update(saved)
    assert (not problems) == safe, problems
