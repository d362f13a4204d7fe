"""Reads the text form of ``ir/printer.py`` back into a :class:`~ir.graph.Graph`.

``print_graph(parse_graph(print_graph(g))) == print_graph(g)`` for every
graph whose constants print inline or as hex (``full_constants=True``). The
parser rebuilds through ``Graph.add_*``, so every node's type is inferred
again by the op registry and checked against the declared one: the text is
verified as it is read. Parameters come back unbound (``binding=None``); give
their arrays to ``interpret(..., params={name: array})``.

Every error is a :class:`ParseError` that names the line (and column) and
what was expected there.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import types
import typing
from typing import Any

import numpy as np

from ir.attrs import ConstantAttrs, NoAttrs
from ir.dtypes import DType
from ir.graph import Graph, Value
from ir.opcodes import Op
from ir.printer import HEX_PREFIX, PLAIN_NAME
from ir.registry import IRTypeError, op_def
from ir.shapes import SymDim, TensorType


class ParseError(ValueError):
    """The text is not a graph: the message says where and what was expected."""

    def __init__(self, line: int, column: int | None, message: str):
        where = f"line {line}" if column is None else f"line {line}, column {column}"
        super().__init__(f"{where}: {message}")
        self.line = line
        self.column = column


@dataclasses.dataclass(frozen=True)
class _Ident:
    """A bare word in an attribute: an enum member or a symbolic dim, decided by the field's type."""

    text: str


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A number must not run into a word: "info" is a name, not "inf" followed by "o".
_NUMBER = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![A-Za-z0-9_])")
_HEX = re.compile(r"[0-9a-fA-F]*")
_OPS = {op.value: op for op in Op}


class _Line:
    """A cursor over one line; every ``expect`` failure is a ParseError at the current column."""

    def __init__(self, text: str, lineno: int):
        self.text = text
        self.lineno = lineno
        self.pos = 0

    def error(self, message: str, at: int | None = None) -> ParseError:
        return ParseError(self.lineno, (self.pos if at is None else at) + 1, message)

    def found(self) -> str:
        rest = self.text[self.pos:]
        return f"'{rest[:20]}'" if rest else "end of line"

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self, s: str) -> bool:
        self.skip_ws()
        return self.text.startswith(s, self.pos)

    def accept(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str, what: str | None = None) -> None:
        if not self.accept(s):
            raise self.error(f"expected {what or repr(s)}, found {self.found()}")

    def match(self, pattern: re.Pattern, what: str) -> str:
        self.skip_ws()
        m = pattern.match(self.text, self.pos)
        if not m or not m.group(0):
            raise self.error(f"expected {what}, found {self.found()}")
        self.pos = m.end()
        return m.group(0)

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos == len(self.text)

    def expect_end(self) -> None:
        if not self.at_end():
            raise self.error(f"expected end of line, found {self.found()}")

    # -- pieces shared by several line kinds -----------------------------
    def name(self, sigil: str) -> str:
        """``%name`` / ``@name``, bare or JSON-quoted."""
        kind = "a value name" if sigil == "%" else "a graph name"
        self.expect(sigil, f"{kind} ('{sigil}name')")
        if self.text.startswith('"', self.pos):
            try:
                value, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                raise self.error(f"expected a quoted name after '{sigil}'") from None
            self.pos = end
            return value
        m = PLAIN_NAME.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected {kind} after '{sigil}', found {self.found()}")
        self.pos = m.end()
        return m.group(0)

    def tensor_type(self) -> TensorType:
        """``f32[N,4]``: a dtype's short name, then dims (ints or symbolic names)."""
        self.skip_ws()
        start = self.pos
        word = self.match(re.compile(r"[a-z0-9]+"), "a type such as f32[N,4]")
        try:
            dtype = DType(word)
        except ValueError:
            raise self.error(f"expected a dtype ({', '.join(d.value for d in DType)}), "
                             f"found '{word}'", at=start) from None
        self.expect("[", "'[' starting the shape")
        dims: list[int | SymDim] = []
        if not self.accept("]"):
            while True:
                self.skip_ws()
                if self.text[self.pos:self.pos + 1].isdigit():
                    dims.append(int(self.match(re.compile(r"\d+"), "a dimension")))
                else:
                    dims.append(SymDim(self.match(_WORD, "a dimension (an integer or a name like N)")))
                if self.accept("]"):
                    break
                self.expect(",", "',' or ']' in the shape")
        return TensorType(dtype, tuple(dims))

    def attr_value(self) -> Any:
        """A generic attribute value: list, number, true/false/none, or a bare word."""
        self.skip_ws()
        if self.accept("["):
            items: list[Any] = []
            if self.accept("]"):
                return tuple(items)
            while True:
                items.append(self.attr_value())
                if self.accept("]"):
                    return tuple(items)
                self.expect(",", "',' or ']' in the list")
        m = _NUMBER.match(self.text, self.pos)
        if m and m.group(0):
            self.pos = m.end()
            text = m.group(0)
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        word = self.match(_WORD, "an attribute value (number, [list], true, false, none or a name)")
        return {"true": True, "false": False, "none": None}.get(word, _Ident(word))


def parse_graph(text: str) -> Graph:
    """Builds the graph that ``text`` (as written by ``print_graph``) describes.

    Blank lines and lines starting with ``//`` are skipped, so golden files
    may carry comments. Region bodies (``body=@name`` attributes) are read from
    the nested ``graph @name(...) { ... }`` blocks that follow their node's line.
    """
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
             if ln.strip() and not ln.strip().startswith("//")]
    if not lines:
        raise ParseError(1, None, "expected 'graph @name(...) {', found an empty text")
    it = iter(lines)
    lineno, header = next(it)
    graph = _parse_block(_Line(header, lineno), it, lines[-1][0])
    rest = [n for n, _ in it]
    if rest:
        raise ParseError(rest[0], None, "expected end of text after the closing '}'")
    return graph


def _parse_block(header: _Line, it, last_line: int) -> Graph:
    """One ``graph @name(...) { ... }`` block, from its header through its closing '}'."""
    graph, env = _parse_header(header)
    returned = False
    for lineno, raw in it:
        ln = _Line(raw, lineno)
        if returned:
            ln.expect("}", "'}' closing the graph")
            ln.expect_end()
            return graph
        # Node lines start with '%', so the keywords cannot be mistaken for names.
        if ln.accept("param"):
            ln.skip_ws()
            col = ln.pos
            name = ln.name("%")
            ln.expect(":", "':' before the parameter type")
            t = ln.tensor_type()
            ln.expect_end()
            _define(ln, env, name, graph.add_param(t, name), col)
        elif ln.accept("update"):
            ln.skip_ws()
            start = ln.pos
            target = ln.name("%")
            if target not in env:
                raise ln.error(f"update target %{target} is not defined", at=start)
            ln.skip_ws()
            ln.expect("<-", "'<-' between the updated parameter and its new value")
            ln.skip_ws()
            (value,) = _operands(ln, env, "update") or [None]
            if value is None:
                raise ln.error("expected the new value after '<-'")
            try:
                graph.add_update(env[target], value)
            except (TypeError, ValueError) as exc:
                raise ln.error(str(exc), at=start) from None
        elif ln.accept("return"):
            graph.set_outputs(_operands(ln, env, "return"))
            returned = True
        elif ln.peek("}"):
            raise ln.error("expected 'return ...' before the closing '}'")
        else:
            _parse_node(ln, graph, env, it, last_line)
    raise ParseError(last_line, None, f"expected 'return ...' and '}}' closing the graph @{graph.name}")


def _parse_header(ln: _Line) -> tuple[Graph, dict[str, Value]]:
    ln.expect("graph", "'graph @name(...) {'")
    graph = Graph(ln.name("@"))
    env: dict[str, Value] = {}
    ln.expect("(", "'(' starting the graph inputs")
    if not ln.accept(")"):
        while True:
            ln.skip_ws()
            col = ln.pos
            name = ln.name("%")
            ln.expect(":", "':' before the input type")
            _define(ln, env, name, graph.add_input(ln.tensor_type(), name), col)
            if ln.accept(")"):
                break
            ln.expect(",", "',' or ')' after a graph input")
    ln.expect("{", "'{' after the graph inputs")
    ln.expect_end()
    return graph, env


def _define(ln: _Line, env: dict[str, Value], name: str, value: Value, col: int) -> None:
    # Graph._unique keeps a free name as given, so a mismatch means the name was taken before.
    if name in env or value.name != name:
        raise ln.error(f"value %{name} is defined twice (expected a new name)", at=col)
    env[name] = value


def _operands(ln: _Line, env: dict[str, Value], what: str) -> list[Value]:
    """Comma-separated ``%name`` references up to the end of the line or a ')'."""
    values: list[Value] = []
    if ln.at_end() or ln.peek(")"):
        return values
    while True:
        ln.skip_ws()
        start = ln.pos
        name = ln.name("%")
        if name not in env:
            raise ln.error(f"%{name} in {what} is not defined (values must be defined above their "
                           f"use)", at=start)
        values.append(env[name])
        if ln.at_end() or ln.peek(")"):
            return values
        ln.expect(",", f"',' between operands of {what}")


def _parse_node(ln: _Line, graph: Graph, env: dict[str, Value], it, last_line: int) -> None:
    """``%a[, %b] = op(%x, ...) {attrs} : type[, type]``, then one block per region attribute."""
    ln.skip_ws()
    name_col = ln.pos
    out_names = [ln.name("%")]
    while ln.accept(","):
        out_names.append(ln.name("%"))
    ln.expect("=", "'=' after the result names (or 'param', 'return')")
    ln.skip_ws()
    start = ln.pos
    word = ln.match(_WORD, "an op name")
    op = _OPS.get(word)
    if op is None:
        raise ln.error(f"expected an op name, found unknown op '{word}'", at=start)
    ln.expect("(", f"'(' after {word}")
    inputs = _operands(ln, env, f"{word} operands")
    ln.expect(")", f"')' closing the operands of {word}")
    ln.skip_ws()
    attrs_text_at = ln.pos
    raw_attrs = _raw_attrs(ln) if ln.peek("{") else {}
    ln.expect(":", "':' before the result types")
    ln.skip_ws()
    types_at = ln.pos
    declared = [ln.tensor_type()]
    while ln.accept(","):
        declared.append(ln.tensor_type())
    ln.expect_end()
    if len(declared) != len(out_names):
        raise ln.error(f"expected {len(out_names)} result type(s), one per result name, "
                       f"found {len(declared)}")

    for key, (col, val, _) in raw_attrs.items():
        if isinstance(val, _GraphRef):
            raw_attrs[key] = (col, _parse_region(ln, it, val, key, last_line), ln.text[col:])
    attrs = _build_attrs(ln, op, raw_attrs, declared, attrs_text_at)
    # A multi-result node names its values "<node>.<i>"; single results carry the node's name.
    node_name = out_names[0] if len(out_names) == 1 else out_names[0].rsplit(".", 1)[0]
    try:
        node = graph.add_node(op, inputs, attrs, node_name)
    except IRTypeError as exc:
        raise ln.error(f"invalid {op}: {exc}", at=start) from None
    inferred = [v.type for v in node.outputs]
    if inferred != declared:
        raise ln.error(f"declared result type(s) {', '.join(map(str, declared))} but {op} infers "
                       f"{', '.join(map(str, inferred))}", at=types_at)
    for name, v in zip(out_names, node.outputs):
        _define(ln, env, name, v, name_col)


@dataclasses.dataclass(frozen=True)
class _GraphRef:
    """``@name`` in an attribute: a region whose body is the next block."""

    name: str
    col: int


def _parse_region(ln: _Line, it, ref: _GraphRef, key: str, last_line: int) -> Graph:
    """The body block of attribute ``key`` (named ``ref``), read from the following lines."""
    nxt = next(it, None)
    if nxt is None:
        raise ParseError(last_line, None, f"expected the body block 'graph @{ref.name}(...) {{' of "
                                          f"attribute {key} (line {ln.lineno}), found end of text")
    header = _Line(nxt[1], nxt[0])
    if not header.peek("graph"):
        raise header.error(f"expected the body block 'graph @{ref.name}(...) {{' of attribute {key} "
                           f"(line {ln.lineno}), found {header.found()}")
    body = _parse_block(header, it, last_line)
    if body.name != ref.name:
        raise ln.error(f"attribute {key} names body @{ref.name}, but the block below is "
                       f"@{body.name}", at=ref.col)
    return body


# An attribute as read: (position, generic value, its source text for messages).
_RawAttr = tuple[int, Any, str]


def _raw_attrs(ln: _Line) -> dict[str, _RawAttr]:
    """``{name=value, ...}`` as name -> raw attribute; digest and hex constants stay text."""
    ln.expect("{")
    out: dict[str, _RawAttr] = {}
    while True:
        ln.skip_ws()
        col = ln.pos
        key = ln.match(_WORD, "an attribute name")
        ln.expect("=", f"'=' after attribute {key}")
        if key in out:
            raise ln.error(f"attribute {key} is given twice", at=col)
        ln.skip_ws()
        at = ln.pos
        if key == "value" and (ln.peek("<") or ln.peek(HEX_PREFIX)):
            value = _constant_blob(ln)
        elif ln.peek("@"):
            value = _GraphRef(ln.name("@"), at)
        else:
            value = ln.attr_value()
        out[key] = (at, value, ln.text[at:ln.pos])
        if ln.accept("}"):
            return out
        ln.expect(",", "',' or '}' in the attributes")


class _Blob(str):
    """The text of a digest or hex constant, kept apart from generic attribute values."""


def _constant_blob(ln: _Line) -> _Blob:
    if ln.accept("<"):
        m = ln.match(re.compile(r"[0-9a-f]+"), "a digest")
        ln.expect(">", "'>' closing the digest")
        return _Blob("<" + m)
    ln.expect(HEX_PREFIX)
    m = _HEX.match(ln.text, ln.pos)
    ln.pos = m.end()
    return _Blob(HEX_PREFIX + m.group(0))


def _build_attrs(ln: _Line, op: Op, raw: dict[str, _RawAttr], declared: list[TensorType],
                 at: int) -> Any:
    cls = op_def(op).attrs_type
    if cls is NoAttrs:
        if raw:
            raise ln.error(f"expected no attributes for {op}, found {', '.join(raw)}", at=at)
        return NoAttrs()
    if cls is ConstantAttrs:
        if set(raw) != {"value"}:
            raise ln.error(f"expected {{value=...}} for constant, found {{{', '.join(raw)}}}", at=at)
        return ConstantAttrs(_constant_array(ln, raw["value"], declared[0]))
    fields = [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    names = [f.name for f in fields]
    if list(raw) != names:
        raise ln.error(f"expected attributes {{{', '.join(names)}}} for {op}, "
                       f"found {{{', '.join(raw)}}}", at=at)
    hints = _type_hints(cls)
    kwargs = {}
    for f in fields:
        col, val, _ = raw[f.name]
        try:
            kwargs[f.name] = _convert(val, hints[f.name])
        except ValueError as exc:
            raise ln.error(f"attribute {f.name} of {op}: {exc}", at=col) from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ln.error(f"invalid attributes for {op}: {exc}", at=at) from None


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    # Attribute classes use postponed annotations; resolve them once per class. ir.attrs
    # names Graph only for type checkers (ir.graph imports it), so supply it here.
    return typing.get_type_hints(cls, localns={"Graph": Graph})


def _convert(value: Any, hint: Any) -> Any:
    """Turns bare words into what the field's type says: enum members, else symbolic dims.

    Numbers are kept as read (an int stays an int even in a float field), so
    the attributes print back exactly as they were.
    """
    if hint is Graph or isinstance(value, Graph):
        if not (hint is Graph and isinstance(value, Graph)):
            raise ValueError(f"expected {'a body @name' if hint is Graph else 'a value'}, "
                             f"found {'a body' if isinstance(value, Graph) else repr(value)}")
        return value
    if isinstance(value, tuple):
        args = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if args and len(args) == len(value):
            return tuple(_convert(v, a) for v, a in zip(value, args))
        return tuple(_convert(v, None) for v in value)
    if not isinstance(value, _Ident):
        return value
    for cls in _enum_classes(hint):
        for member in cls:
            if value.text in (str(member), member.name) or member.value == value.text:
                return member
    if _enum_classes(hint):
        choices = ", ".join(str(m) for c in _enum_classes(hint) for m in c)
        raise ValueError(f"expected one of {choices}, found '{value.text}'")
    return SymDim(value.text)


def _enum_classes(hint: Any) -> list[type[enum.Enum]]:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(hint) for c in _enum_classes(a)]
    return []


def _constant_array(ln: _Line, raw: _RawAttr, t: TensorType) -> np.ndarray:
    col, val, source = raw
    if any(isinstance(d, SymDim) for d in t.shape):
        raise ln.error(f"a constant needs a static shape, found {t}", at=col)
    shape = tuple(t.shape)
    count = int(np.prod(shape, dtype=np.int64))
    npd = t.dtype.numpy
    if isinstance(val, _Blob) and val.startswith("<"):
        raise ln.error(f"constant value {val}> is a digest, not data: print the graph with "
                       f"print_graph(..., full_constants=True) to parse it back", at=col)
    if isinstance(val, _Blob):
        data = val[len(HEX_PREFIX):]
        if len(data) != 2 * count * npd.itemsize:
            raise ln.error(f"expected {2 * count * npd.itemsize} hex digits for {t}, "
                           f"found {len(data)}", at=col)
        arr = np.frombuffer(bytes.fromhex(data), dtype=npd.newbyteorder("<"))
        return arr.astype(npd).reshape(shape)
    items = val if isinstance(val, tuple) else None
    if items is None or any(isinstance(x, tuple) for x in items):
        raise ln.error(f"expected a flat [list] of values, hex:... or <digest> for the constant, "
                       f"found {source}", at=col)
    if len(items) != count:
        raise ln.error(f"expected {count} value(s) for {t}, found {len(items)}", at=col)
    try:
        if t.dtype is DType.bool:
            flags = {"True": True, "False": False}
            arr = np.array([flags[x.text] for x in items], dtype=npd)
        else:
            # Only numbers, and no fractions in an integer constant (numpy would truncate them).
            if any(not isinstance(x, (int, float)) or isinstance(x, bool)
                   or (isinstance(x, float) and not t.dtype.is_floating) for x in items):
                raise KeyError
            arr = np.array(items, dtype=npd)
    except (KeyError, AttributeError, OverflowError, ValueError):
        raise ln.error(f"expected {count} value(s) of dtype {t.dtype}, found {source}", at=col) from None
    return arr.reshape(shape)
