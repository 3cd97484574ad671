"""List the functions of a package longer than a limit, in code lines (no blank, comment or docstring lines).

    python tools/long_functions.py [--limit 80] [PACKAGE_DIR]

Prints ``path:line name total doc code`` for every function over the limit, longest first, and the count.
A nested function counts in its own right and inside the function that holds it.
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _comment_lines(source: str) -> set[int]:
    """Line numbers holding only a comment."""
    lines = set()
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            lines.add(tok.start[0])
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(range(tok.start[0], tok.end[0] + 1))
    return lines - code


def _docstring_lines(node: ast.AST) -> set[int]:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            return set(range(body[0].lineno, body[0].end_lineno + 1))
    return set()


def measure(path: Path) -> list[tuple[str, int, str, int, int, int]]:
    """(path, line, name, total lines, docstring lines, code lines) of every function in ``path``."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    comments = _comment_lines(source)
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        span = range(node.lineno, node.end_lineno + 1)
        doc = _docstring_lines(node)
        code = [n for n in span if n not in doc and n not in comments and lines[n - 1].strip()]
        found.append((str(path), node.lineno, node.name, len(span), len(doc), len(code)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default=str(ROOT / "ghosthub"))
    parser.add_argument("--limit", type=int, default=80, help="code lines a function may have (default 80)")
    args = parser.parse_args()
    base = Path(args.package).resolve()
    rows = [row for path in sorted(base.rglob("*.py")) for row in measure(path)]
    over = sorted((r for r in rows if r[5] > args.limit), key=lambda r: -r[5])
    print(f"{'function':<50} {'lines':>5} {'doc':>4} {'code':>5}")
    for path, line, name, total, doc, code in over:
        where = f"{Path(path).relative_to(base.parent)}:{line} {name}"
        print(f"{where:<50} {total:>5} {doc:>4} {code:>5}")
    print(f"{len(over)} of {len(rows)} functions over {args.limit} code lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
