"""The spec language's expressions: a small, safe subset of Python expressions, never given to ``eval``.

``parse(text)`` reads an expression with :mod:`ast` and checks every node against an allow-list (arithmetic,
bit operations, comparisons, ``and``/``or``/``not``, ``x if c else y``, literals, lists and tuples, field
names, ``a.b`` member access, ``a[i]`` indexing, comprehensions and calls of the functions in
:data:`FUNCTIONS`). Anything else (attribute names with a leading underscore, lambdas, assignments, calls
of anything but a listed function, keyword arguments, starred arguments...) is a problem reported with the
expression's pointer. A checked expression is then either

- compiled into a tree of closures (:meth:`Expr.evaluate`), used by the construct structs, or
- translated into Python source (:meth:`Expr.source`) for the generated fast paths, in which every name is
  mapped by the caller and every operation with a subtle semantic goes through the same helper function the
  closures use, so both forms compute the same value.

Semantics: integers stay integers; ``/`` and numbers written with a decimal point are exact ``Decimal``;
``a.b`` on a mapping is its member ``b``; ``a.b`` and ``a[i]`` on ``None`` (an absent conditional field)
or a missing member or index are ``None``. ``**``, ``<<`` and ``*`` are bounded so an expression cannot make
huge numbers or strings.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.spec.expr_functions import (
    FUNCTIONS,
    HELPERS,
    ExprError,
    _attr,
    _div,
    _index,
    _lshift,
    _mul,
    _pow,
)

#: names an expression may use besides fields and loop variables
SPECIAL_NAMES = frozenset({"_parent", "_root", "item", "index", "True", "False", "None"})

_BINOPS: dict[type, tuple[Callable[[Any, Any], Any], str | None]] = {
    ast.Add: (operator.add, "+"),
    ast.Sub: (operator.sub, "-"),
    ast.Mult: (_mul, None),
    ast.Div: (_div, None),
    ast.FloorDiv: (operator.floordiv, "//"),
    ast.Mod: (operator.mod, "%"),
    ast.Pow: (_pow, None),
    ast.LShift: (_lshift, None),
    ast.RShift: (operator.rshift, ">>"),
    ast.BitOr: (operator.or_, "|"),
    ast.BitXor: (operator.xor, "^"),
    ast.BitAnd: (operator.and_, "&"),
}
_HELPER_OF = {ast.Mult: "_x_mul", ast.Div: "_x_div", ast.Pow: "_x_pow", ast.LShift: "_x_lshift"}
_UNARY: dict[type, tuple[Callable[[Any], Any], str]] = {
    ast.Invert: (operator.invert, "~"),
    ast.Not: (operator.not_, "not "),
    ast.UAdd: (operator.pos, "+"),
    ast.USub: (operator.neg, "-"),
}
_COMPARE: dict[type, tuple[Callable[[Any, Any], bool], str]] = {
    ast.Eq: (operator.eq, "=="),
    ast.NotEq: (operator.ne, "!="),
    ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="),
    ast.Gt: (operator.gt, ">"),
    ast.GtE: (operator.ge, ">="),
    ast.Is: (operator.is_, "is"),
    ast.IsNot: (operator.is_not, "is not"),
    ast.In: (lambda a, b: a in b, "in"),
    ast.NotIn: (lambda a, b: a not in b, "not in"),
}

Scope = Callable[[str], Any]
Closure = Callable[[Scope, dict[str, Any]], Any]


@dataclass
class Expr:
    """A checked expression: its text, the field names it reads and the tables it looks up."""

    text: str
    tree: ast.expr
    names: frozenset[str] = frozenset()
    tables: frozenset[str] = frozenset()
    #: the spec's table lookup (set once the spec's tables are known)
    lookup: Callable[[str, Any], Any] | None = field(default=None, repr=False, compare=False)
    _closure: Closure | None = field(default=None, repr=False)

    def evaluate(self, scope: Scope, lookup: Callable[[str, Any], Any] | None = None) -> Any:
        """The value, reading names through ``scope(name)``; raises ``ExprError`` when it fails."""
        if self._closure is None:
            self._closure = _compile(self.tree)
        try:
            return self._closure(scope, {"lookup": lookup or self.lookup})
        except ExprError:
            raise
        except Exception as exc:  # any failure of the operations is the expression's failure
            raise ExprError(f"{type(exc).__name__}: {exc}") from None

    def source(self, name_code: Callable[[str], str], lookup_code: str = "_lookup") -> str:
        """Python source computing the value; ``name_code(name)`` gives the code reading a name."""
        return _Translator(name_code, lookup_code).visit(self.tree)


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.names: set[str] = set()
        self.tables: set[str] = set()
        self.bound: list[set[str]] = []

    def generic_visit(self, node: ast.AST) -> None:
        self.problems.append(f"{type(node).__name__} is not allowed in an expression")

    def visit_Expression(self, node: ast.Expression) -> None:
        self.visit(node.body)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, (int, float, str, bytes, bool, type(None))):
            self.problems.append(f"the constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.problems.append("an expression cannot assign")
            return
        if node.id.startswith("__"):
            self.problems.append(f"the name {node.id!r} is not allowed")
            return
        if not any(node.id in bound for bound in self.bound):
            self.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_") and node.attr not in ("_parent", "_root"):
            self.problems.append(f"member names starting with '_' are not allowed: {node.attr!r}")
            return
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            for part in (node.slice.lower, node.slice.upper, node.slice.step):
                if part is not None:
                    self.visit(part)
        else:
            self.visit(node.slice)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) not in _BINOPS:
            self.problems.append(f"the operator {type(node.op).__name__} is not allowed")
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.Is, ast.IsNot)) and not (isinstance(right, ast.Constant) and right.value is None):
                self.problems.append("'is' and 'is not' only compare with None")
        self.visit(node.left)
        for right in node.comparators:
            self.visit(right)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        self.visit(node.body)
        self.visit(node.orelse)

    def visit_List(self, node: ast.List) -> None:
        for item in node.elts:
            self.visit(item)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        for item in node.elts:
            self.visit(item)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                self.problems.append("mapping keys are quoted names: {'value': x}")
                return
            self.visit(value)

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            self.problems.append(f"unknown function {name!r}; functions: {', '.join(sorted(FUNCTIONS))}")
            return
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.problems.append(f"{node.func.id}() takes positional arguments only")
            return
        _, least, most = FUNCTIONS[node.func.id]
        if not least <= len(node.args) <= most:
            count = f"{least}" if least == most else f"{least} to {most}"
            self.problems.append(f"{node.func.id}() takes {count} arguments, got {len(node.args)}")
            return
        if node.func.id == "lookup":
            table = node.args[0]
            if not (isinstance(table, ast.Constant) and isinstance(table.value, str)):
                self.problems.append("lookup() names its table as a string: lookup('table', key)")
                return
            self.tables.add(table.value)
            self.visit(node.args[1])
            return
        for arg in node.args:
            self.visit(arg)

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> None:
        bound: set[str] = set()
        self.bound.append(bound)
        for generator in node.generators:
            if generator.is_async:
                self.problems.append("async comprehensions are not allowed")
            self.visit(generator.iter)
            targets = generator.target.elts if isinstance(generator.target, ast.Tuple) else [generator.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    self.problems.append("a comprehension binds plain names")
                    continue
                bound.add(target.id)
            for condition in generator.ifs:
                self.visit(condition)
        self.visit(node.elt)
        self.bound.pop()

    visit_ListComp = _comprehension
    visit_GeneratorExp = _comprehension


def parse(text: Any) -> tuple[Expr | None, str | None]:
    """(expression, None) or (None, the problem); ``text`` is the expression's source."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return None, f"an expression is text, got {text!r}"
    source = str(text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        return None, f"invalid expression {source!r}: {exc.msg}"
    checker = _Checker()
    checker.visit(tree)
    if checker.problems:
        return None, f"invalid expression {source!r}: {checker.problems[0]}"
    names = frozenset(n for n in checker.names if n not in ("True", "False", "None"))
    return Expr(source, tree.body, names, frozenset(checker.tables)), None


# ---------------------------------------------------------------------- closures (the interpreted form)


def _compile(node: ast.expr) -> Closure:
    if isinstance(node, ast.Constant):
        value = Decimal(repr(node.value)) if isinstance(node.value, float) else node.value
        return lambda scope, env: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda scope, env: scope(name)
    if isinstance(node, ast.Attribute):
        inner, attr = _compile(node.value), node.attr
        return lambda scope, env: _attr(inner(scope, env), attr)
    if isinstance(node, ast.Subscript):
        base = _compile(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [
                _compile(p) if p is not None else None for p in (node.slice.lower, node.slice.upper, node.slice.step)
            ]

            def sliced(scope: Scope, env: dict[str, Any]) -> Any:
                value = base(scope, env)
                if value is None:
                    return None
                bounds = [p(scope, env) if p is not None else None for p in parts]
                return value[slice(*bounds)]

            return sliced
        key = _compile(node.slice)
        return lambda scope, env: _index(base(scope, env), key(scope, env))
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        func = _BINOPS[type(node.op)][0]
        return lambda scope, env: func(left(scope, env), right(scope, env))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        unary = _UNARY[type(node.op)][0]
        return lambda scope, env: unary(operand(scope, env))
    if isinstance(node, ast.BoolOp):
        values = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def conjunction(scope: Scope, env: dict[str, Any]) -> Any:
                result: Any = True
                for value in values:
                    result = value(scope, env)
                    if not result:
                        return result
                return result

            return conjunction

        def disjunction(scope: Scope, env: dict[str, Any]) -> Any:
            result: Any = False
            for value in values:
                result = value(scope, env)
                if result:
                    return result
            return result

        return disjunction
    if isinstance(node, ast.Compare):
        first = _compile(node.left)
        rest = [(_COMPARE[type(op)][0], _compile(c)) for op, c in zip(node.ops, node.comparators, strict=True)]

        def compare(scope: Scope, env: dict[str, Any]) -> bool:
            left = first(scope, env)
            for func, right_closure in rest:
                right = right_closure(scope, env)
                if not func(left, right):
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda scope, env: body(scope, env) if test(scope, env) else orelse(scope, env)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_compile(e) for e in node.elts]
        kind = list if isinstance(node, ast.List) else tuple
        return lambda scope, env: kind(item(scope, env) for item in items)
    if isinstance(node, ast.Dict):
        pairs = [(k.value, _compile(v)) for k, v in zip(node.keys, node.values, strict=True)]  # type: ignore[union-attr]
        return lambda scope, env: {key: value(scope, env) for key, value in pairs}
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        if name == "lookup":
            table = node.args[0].value  # type: ignore[attr-defined]
            key = _compile(node.args[1])

            def look(scope: Scope, env: dict[str, Any]) -> Any:
                lookup = env.get("lookup")
                if lookup is None:
                    raise ExprError("this spec has no tables")
                return lookup(table, key(scope, env))

            return look
        impl = FUNCTIONS[name][0]
        args = [_compile(a) for a in node.args]
        return lambda scope, env: impl(*(a(scope, env) for a in args))
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return _comprehension(node)
    raise ExprError(f"{type(node).__name__} cannot be evaluated")


def _comprehension(node: ast.ListComp | ast.GeneratorExp) -> Closure:
    element = _compile(node.elt)
    generators = []
    for generator in node.generators:
        target = generator.target
        names = [t.id for t in target.elts] if isinstance(target, ast.Tuple) else [target.id]  # type: ignore[attr-defined]
        generators.append(
            (names, isinstance(target, ast.Tuple), _compile(generator.iter), [_compile(c) for c in generator.ifs])
        )

    def run(scope: Scope, env: dict[str, Any]) -> list[Any]:
        results: list[Any] = []

        def loop(level: int, bound: dict[str, Any]) -> None:
            def inner(name: str) -> Any:
                return bound[name] if name in bound else scope(name)

            if level == len(generators):
                results.append(element(inner, env))
                return
            names, unpack, iterable, conditions = generators[level]
            for value in iterable(inner, env) or ():
                local = dict(bound)
                if unpack:
                    local.update(zip(names, value, strict=True))
                else:
                    local[names[0]] = value
                nested = lambda name, local=local: local[name] if name in local else scope(name)  # noqa: E731
                if all(c(nested, env) for c in conditions):
                    loop(level + 1, local)

        loop(0, {})
        return results

    return run


# ---------------------------------------------------------------------- translation (the generated form)


class _Translator:
    def __init__(self, name_code: Callable[[str], str], lookup_code: str) -> None:
        self.name_code = name_code
        self.lookup_code = lookup_code
        self.bound: list[set[str]] = []

    def visit(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, float):
                return f"_Decimal({repr(node.value)!r})"
            return repr(node.value)
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "None") or any(node.id in b for b in self.bound):
                return node.id if node.id in ("True", "False", "None") else f"_c_{node.id}"
            return self.name_code(node.id)
        if isinstance(node, ast.Attribute):
            return f"_x_attr({self.visit(node.value)}, {node.attr!r})"
        if isinstance(node, ast.Subscript):
            base = self.visit(node.value)
            if isinstance(node.slice, ast.Slice):
                parts = [
                    self.visit(p) if p is not None else "None"
                    for p in (node.slice.lower, node.slice.upper, node.slice.step)
                ]
                return f"_x_slice({base}, {', '.join(parts)})"
            return f"_x_index({base}, {self.visit(node.slice)})"
        if isinstance(node, ast.BinOp):
            helper = _HELPER_OF.get(type(node.op))
            left, right = self.visit(node.left), self.visit(node.right)
            if helper is not None:
                return f"{helper}({left}, {right})"
            return f"({left} {_BINOPS[type(node.op)][1]} {right})"
        if isinstance(node, ast.UnaryOp):
            return f"({_UNARY[type(node.op)][1]}{self.visit(node.operand)})"
        if isinstance(node, ast.BoolOp):
            word = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + word.join(self.visit(v) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            parts = [self.visit(node.left)]
            for op, operand in zip(node.ops, node.comparators, strict=True):
                parts += [_COMPARE[type(op)][1], self.visit(operand)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            return f"({self.visit(node.body)} if {self.visit(node.test)} else {self.visit(node.orelse)})"
        if isinstance(node, ast.List):
            return "[" + ", ".join(self.visit(e) for e in node.elts) + "]"
        if isinstance(node, ast.Tuple):
            return "(" + "".join(self.visit(e) + ", " for e in node.elts) + ")"
        if isinstance(node, ast.Dict):
            items = ", ".join(f"{k.value!r}: {self.visit(v)}" for k, v in zip(node.keys, node.values, strict=True))  # type: ignore[union-attr]
            return "{" + items + "}"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            if node.func.id == "lookup":
                table = node.args[0].value  # type: ignore[attr-defined]
                return f"{self.lookup_code}({table!r}, {self.visit(node.args[1])})"
            return f"_f_{node.func.id}(" + ", ".join(self.visit(a) for a in node.args) + ")"
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            bound: set[str] = set()
            clauses = []
            self.bound.append(bound)
            for generator in node.generators:
                iterable = self.visit(generator.iter)
                target = generator.target
                names = [t.id for t in target.elts] if isinstance(target, ast.Tuple) else [target.id]  # type: ignore[attr-defined]
                bound.update(names)
                target_code = ", ".join(f"_c_{n}" for n in names) + (
                    "," if isinstance(target, ast.Tuple) and len(names) == 1 else ""
                )
                clause = f"for {target_code} in ({iterable} or ())"
                clause += "".join(f" if {self.visit(c)}" for c in generator.ifs)
                clauses.append(clause)
            element = self.visit(node.elt)
            self.bound.pop()
            return f"[{element} {' '.join(clauses)}]"
        raise ExprError(f"{type(node).__name__} cannot be translated")


def _slice(value: Any, lower: Any, upper: Any, step: Any) -> Any:
    if value is None:
        return None
    return value[lower:upper:step]


HELPERS["_x_slice"] = _slice
HELPERS["_Decimal"] = Decimal
