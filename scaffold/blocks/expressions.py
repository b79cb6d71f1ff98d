"""`$EXPRESSION` values of a defined block (see scaffold/blocks/defined.py): numbers, the block's
parameters, its `let` values and `in_channels`, + - * / //, comparisons, and, or, `max(...)`,
`min(...)`, parentheses. Computed on values that remember their code (emit.Symbolic), so the
class is written with the expressions."""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from .emit import BinOp, Call, Lit, Symbolic, SymBool, Var, symbolic

# -------------------------------------------------------------------------------

_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.USub,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Call,
)
FUNCTIONS = {"max": max, "min": min}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


@lru_cache(maxsize=1024)
def _parse(text: str) -> tuple[ast.Expression, tuple[str | None, ...]]:
    """The tree of an expression and, in the order of ast.walk, the names in it and None for a
    node that is not allowed: parsed once per text (a block's expressions are evaluated at each
    of its uses)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        if text.count("(") > text.count(")"):  # `{out: $max(a, b)}`: YAML ended it at the comma
            raise ValueError(
                f"'${text}' is not an expression: inside {{...}} a comma ends a value; quote an "
                'expression with a comma ("$max(a, b)")'
            ) from None
        raise ValueError(f"'${text}' is not an expression") from None
    checks = []
    called = set()  # the names of max and min where they are called
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in FUNCTIONS
                or len(node.args) < 2
                or node.keywords
                or any(isinstance(a, ast.Starred) for a in node.args)
            ):
                checks.append(None)
            else:
                called.add(id(node.func))
        elif not isinstance(node, _ALLOWED):
            checks.append(None)
        elif isinstance(node, ast.Name) and id(node) not in called:
            checks.append(node.id)
    return tree, tuple(checks)


def names_in(text: str) -> frozenset[str]:
    """The names an expression uses (none for one that does not parse: evaluate says why)."""
    try:
        return frozenset(name for name in _parse(text)[1] if name is not None)
    except ValueError:
        return frozenset()


def evaluate(text: str, symbols: dict[str, Any]):
    """The value of `$EXPRESSION`; a ValueError says what is wrong with it."""
    tree, checks = _parse(text)
    for name in checks:
        if name is None:
            raise ValueError(
                f"'${text}': only numbers, parameters, + - * / //, comparisons, and, or, "
                "max(a, b, ...), min(a, b, ...) and ( ) are allowed"
            )
        if name not in symbols:
            raise ValueError(f"unknown parameter '{name}'")

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ValueError(f"'${text}': only numbers, parameters and arithmetic")
            return node.value
        if isinstance(node, ast.Name):
            return symbols[node.id]
        if isinstance(node, ast.Call):
            return _call(node.func.id, [value(a) for a in node.args])
        if isinstance(node, ast.UnaryOp):
            return 0 - value(node.operand)
        if isinstance(node, ast.Compare):
            result, code, left = True, None, value(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = value(right_node)
                one = _compare(left, _COMPARE[type(op)], right)
                result = result and bool(one)
                code = one.expr if code is None else BinOp(code, "and", one.expr)
                left = right
            return SymBool(result, code) if _any_symbolic(node, symbols) else result
        if isinstance(node, ast.BoolOp):
            values = [value(v) for v in node.values]
            word = "and" if isinstance(node.op, ast.And) else "or"
            result = all(values) if word == "and" else any(values)
            if not any(isinstance(v, Symbolic) for v in values):
                return result
            code = _sym_expr(values[0])
            for v in values[1:]:
                code = BinOp(code, word, _sym_expr(v))
            return SymBool(result, code)
        left, right = value(node.left), value(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        return left // right

    try:
        return value(tree)
    except ZeroDivisionError:
        raise ValueError(f"'${text}' divides by zero") from None
    except TypeError:
        raise ValueError(f"'${text}' computes with a word, a pair or true/false") from None


def _call(name: str, args: list):
    """max(...) or min(...) of numbers; written as the call where an argument is computed from
    the block's arguments (`max(1, in_channels // reduction)`)."""
    if any(isinstance(_value(a), bool) or not isinstance(_value(a), (int, float)) for a in args):
        raise TypeError(name)
    result = FUNCTIONS[name](_value(a) for a in args)
    if not any(isinstance(a, Symbolic) for a in args):
        return result
    return symbolic(result, Call(Var(name), *(_sym_expr(a) for a in args)))


def _compare(left, op: str, right) -> SymBool:
    a, b = _value(left), _value(right)
    result = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    return SymBool(result, BinOp(_sym_expr(left), op, _sym_expr(right)))


def _value(v):
    if isinstance(v, SymBool):
        return v.value
    if isinstance(v, Symbolic):
        return v._value()
    return v


def _sym_expr(v):
    return v.expr if isinstance(v, Symbolic) else Lit(v)


def _any_symbolic(node, symbols) -> bool:
    return any(
        isinstance(n, ast.Name) and isinstance(symbols.get(n.id), Symbolic) for n in ast.walk(node)
    )
