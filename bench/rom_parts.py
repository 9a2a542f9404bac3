"""What a ROMFS import leaves on the heap that a frozen module keeps in flash.

The heap bench runs the firmware from a ROMFS image: bytecode executes in
place, but MicroPython's .mpy loader (py/persistentcode.c) still allocates,
per module, on the heap:
  - the module's constant table: one block of 2 bytes per qstr (rounded to
    words) + one word per constant object (`mp_module_context_alloc_tables`);
  - an object header for every str / bytes constant (data in place), a boxed
    float, a big int, a tuple of constants;
  - for each function that contains nested code (a closure, lambda or
    comprehension: MicroPython compiles each into its own scope) the raw-code
    structures of that nested code, kept alive by the function's child table:
    measured 32 bytes per nested scope on this port (x64, ROMFS: 50 functions
    with one list comprehension each cost 1,760 B more than without, a second
    comprehension 1,600 B more again).
A frozen build (mpy-tool.py -> C) has all of these as const data in flash.
This module computes them from the .mpy files and the sources, so the bench
can take them out of its ESP32 "frozen" estimate exactly instead of by guess.

Sizes are for this (64-bit) port: 32-byte GC blocks, 8-byte words.
"""

from __future__ import annotations

import ast
from pathlib import Path

BLOCK = 32
WORD = 8
NESTED_SCOPE = 32  # measured, see above

# MP_PERSISTENT_OBJ_* (py/persistentcode.h)
_NONE, _FALSE, _TRUE, _ELLIPSIS, _STR, _BYTES, _INT, _FLOAT, _COMPLEX, _TUPLE = range(1, 11)


def _blocks(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


class _Reader:
    def __init__(self, data: bytes):
        self.b = data
        self.i = 0

    def byte(self) -> int:
        self.i += 1
        return self.b[self.i - 1]

    def uint(self) -> int:
        n = 0
        while True:
            c = self.byte()
            n = (n << 7) | (c & 0x7F)
            if not c & 0x80:
                return n

    def skip(self, n: int) -> None:
        self.i += n


def _obj(r: _Reader, sizes: list[int], qstrs: set) -> None:
    """Read one constant object; append the heap allocations a ROMFS load makes for it."""
    kind = r.byte()
    if kind in (0, _NONE, _FALSE, _TRUE, _ELLIPSIS):
        return
    n = r.uint()
    if kind == _TUPLE:
        sizes.append(_blocks(2 * WORD + n * WORD))
        for _ in range(n):
            _obj(r, sizes, qstrs)
        return
    if kind in (_STR, _BYTES):
        data = bytes(r.b[r.i:r.i + n])
        r.skip(n + 1)  # data + NUL, used in place
        # a str whose text is already interned loads as that qstr (no
        # object); judged by the loaded modules' own qstrs, which misses
        # the built-in ones (checked: 137 predicted / 144 new str objects
        # for 14 modules, runtime strings included)
        if (kind == _STR and data not in qstrs) or (kind == _BYTES and n):
            sizes.append(BLOCK)  # the object header (base, hash, len, data pointer)
        return
    text = r.b[r.i:r.i + n]
    r.skip(n)  # int / float / complex as text
    if kind == _INT:
        if -(1 << 62) <= int(text) < (1 << 62):
            return  # a small int here (inside a constant tuple): no object
        sizes.append(2 * BLOCK)  # big int: the object + its digits
    else:
        sizes.append(BLOCK)  # boxed float / complex


def _header(r: _Reader, path: Path, qstrs: set) -> tuple[int, int]:
    if r.byte() != ord("M"):
        raise ValueError(f"{path}: not an .mpy")
    r.skip(3)
    n_qstr, n_obj = r.uint(), r.uint()
    for _ in range(n_qstr):
        n = r.uint()
        if not n & 1:  # static qstrs are an index only
            qstrs.add(bytes(r.b[r.i:r.i + (n >> 1)]))
            r.skip((n >> 1) + 1)
    return n_qstr, n_obj


def mpy_qstrs(path: Path) -> set:
    """The names (qstrs) one .mpy interns when it loads."""
    qstrs: set = set()
    _header(_Reader(path.read_bytes()), path, qstrs)
    return qstrs


def mpy_tables(path: Path, qstrs: set = frozenset()) -> tuple[int, list[int]]:
    """(constant-table allocation, [constant object allocations]) of one .mpy;
    `qstrs`: names interned by the modules loaded with it."""
    r = _Reader(path.read_bytes())
    n_qstr, n_obj = _header(r, path, set())
    objs: list[int] = []
    for _ in range(n_obj):
        _obj(r, objs, qstrs)
    table = _blocks(((n_qstr * 2 + WORD - 1) // WORD + n_obj) * WORD)
    return table, objs


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _nested(fn: ast.AST) -> int:
    """Scopes nested anywhere inside a function (not counting the function)."""
    return sum(1 for node in ast.walk(fn) if node is not fn and isinstance(node, _SCOPES))


def nested_scopes(source: Path) -> int:
    """Nested scopes kept alive by the module's long-lived function objects:
    functions at module level and methods of module-level classes (their
    function objects live in the module / class dict). Code nested in the
    module body or a class body itself dies with that body."""
    tree = ast.parse(source.read_text())
    total = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            defs = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        elif isinstance(node, ast.Module):
            defs = [n for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and _depth_ok(tree, n)]
        else:
            continue
        total += sum(_nested(d) for d in defs)
    return total


def _depth_ok(tree: ast.Module, fn: ast.AST) -> bool:
    # a def whose nearest enclosing scope is the module (also inside if/try)
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            if child is fn:
                if isinstance(parent, ast.Module):
                    return True
                if isinstance(parent, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                    return _depth_ok(tree, parent)
                return False
    return False


def module_file(tree: Path, name: str, suffix: str) -> Path | None:
    base = tree.joinpath(*name.split("."))
    for p in (base.with_suffix(suffix), base / f"__init__{suffix}"):
        if p.is_file():
            return p
    return None


def rom_parts(mpy_tree: Path, src_tree: Path, modules: list[str]) -> dict:
    """Per loaded module: the allocations above. Returns
    {"tables": [...], "objects": [...], "nested": [...], "per_module": {name: bytes},
    "qstrs": the names they intern} (allocation sizes in bytes, this port)."""
    out: dict = {"tables": [], "objects": [], "nested": [], "per_module": {}}
    files = {}
    for name in modules:
        mpy = module_file(mpy_tree, name, ".mpy")
        src = module_file(src_tree, name, ".py")
        if mpy is not None and src is not None:  # else built into this port (asyncio, ...)
            files[name] = (mpy, src)
    qstrs: set = set()
    for mpy, _ in files.values():
        qstrs |= mpy_qstrs(mpy)
    out["qstrs"] = qstrs
    for name, (mpy, src) in files.items():
        table, objs = mpy_tables(mpy, qstrs)
        nested = [NESTED_SCOPE] * nested_scopes(src)
        out["tables"].append(table)
        out["objects"] += objs
        out["nested"] += nested
        out["per_module"][name] = table + sum(objs) + sum(nested)
    return out


def rule_share(parts: dict) -> int:
    """What bench_firmware_heap.heap_map's ESP32 rule counted for these
    allocations: raw blocks of 8+ GC blocks whole, everything else half
    (at least 16 bytes). Tables are raw; the rest are small objects."""
    def rule(n: int) -> int:
        return n if n >= 8 * BLOCK else max(16, n // 2)
    return (sum(rule(n) for n in parts["tables"]) + sum(rule(n) for n in parts["objects"])
            + sum(rule(n) for n in parts["nested"]))
