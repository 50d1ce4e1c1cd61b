"""Reading a seed-000 script file's magic variables with `ast`, without running a line of it.

`read_facts` returns what the file says about `__script_id__` & co. and the set of magic
variables whose value only running the module could tell (computed, imported, assigned in an
`if`, mutated after assignment). scriptfile.py imports the file in a child process only when
that set is not empty.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from scriptdeck.settings.fields import describe

VALUE_NAMES = ("__script_id__", "__script_title__", "__script_settings__", "__script_version__")
CALLABLE_NAMES = ("__script_obj__", "__script_commands__")
MAGIC_NAMES = VALUE_NAMES + CALLABLE_NAMES
_DICT_FACTORIES = {"dict", "collections.OrderedDict"}
_MAX_DEPTH = 32  # alias chains and class hierarchies deeper than this are not worth following


class NotLiteral(Exception):
    """The value cannot be known without running the module."""


@dataclass(frozen=True)
class Params:
    """A callable's parameters, as far as a call check needs them (`self` included for methods)."""

    positional: tuple[str, ...] = ()
    required: int = 0  # leading positional parameters without a default
    varargs: str | None = None
    required_kwonly: tuple[str, ...] = ()
    varkw: str | None = None
    is_async: bool = False
    unknown: bool = False  # it exists but its signature cannot be read (C code, a descriptor)

    def accepts(self, count: int, *, method: bool) -> bool:
        """Can it be called with `count` positional arguments (plus `self` for a method)?"""
        if self.unknown:
            return True
        total = count + (1 if method else 0)
        fits = len(self.positional) >= total or self.varargs is not None
        return fits and self.required <= total and not self.required_kwonly

    def render(self, name: str) -> str:
        parts = [p if i < self.required else f"{p}=..." for i, p in enumerate(self.positional)]
        if self.varargs is not None:
            parts.append(f"*{self.varargs}")
        elif self.required_kwonly:
            parts.append("*")
        parts += self.required_kwonly
        if self.varkw is not None:
            parts.append(f"**{self.varkw}")
        return f"{name}({', '.join(parts)})"


@dataclass(frozen=True)
class CallableFacts:
    """What is known about the value of `__script_obj__` or `__script_commands__`.

    kind: "class", "function", "lambda", "callable" (something else callable), "other" (not
    callable; `shown` is the value), or "undefined" (a name the file never binds).
    `name` is the module attribute the runner looks up to get the object.
    """

    kind: str
    name: str
    shown: str = ""
    params: Params | None = None  # function / lambda / callable
    init: Params | None = None  # class: None when only object.__init__ exists
    run: Params | None = None  # class: None when there is no run
    literal: tuple[str, ...] | None = None  # commands known without running them


@dataclass
class ScriptFacts:
    """The magic variables of one script file; absent variables are missing from `values`."""

    values: dict[str, Any] = field(default_factory=dict)
    obj: CallableFacts | None = None
    commands: CallableFacts | None = None


def params_of(args: ast.arguments, *, is_async: bool = False) -> Params:
    positional = tuple(a.arg for a in (*args.posonlyargs, *args.args))
    kwonly = tuple(a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None)
    return Params(
        positional,
        len(positional) - len(args.defaults),
        args.vararg.arg if args.vararg else None,
        kwonly,
        args.kwarg.arg if args.kwarg else None,
        is_async,
    )


@dataclass
class _Binding:
    node: ast.AST | None  # the bound value (expr, ClassDef, FunctionDef, Import), None = unknowable
    conditional: bool


class _Module:
    """Every name the module binds while it is imported, and every name that code reads."""

    def __init__(self, tree: ast.Module, source: bytes) -> None:
        self.bindings: dict[str, list[_Binding]] = {}
        self.loads: set[str] = set()
        self.star_import = False
        self.imports: dict[str, str] = {}  # local name -> dotted origin, for OrderedDict & co.
        self._reading = False
        for stmt in tree.body:
            self._stmt(stmt, conditional=False)
        # Reads matter only for magic variables (a read may be a mutation). Walking every
        # expression costs more than parsing, so do it only when the text mentions a magic name
        # more often than it is bound: a read needs an occurrence of its own.
        if any(source.count(name.encode()) > len(self.bindings.get(name, ())) for name in MAGIC_NAMES):
            self._reading = True
            self.bindings.clear()
            self.imports.clear()
            for stmt in tree.body:
                self._stmt(stmt, conditional=False)

    def _bind(self, name: str, node: ast.AST | None, conditional: bool) -> None:
        self.bindings.setdefault(name, []).append(_Binding(node, conditional))

    def _stmt(self, stmt: ast.stmt, conditional: bool) -> None:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self._target(target, stmt.value, conditional)
            self._reads(stmt.value)
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            if stmt.value is not None:
                self._reads(stmt.value)
            value = stmt.value if isinstance(stmt, ast.AnnAssign) else None
            if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                self.loads.add(stmt.target.id)
            self._target(stmt.target, value, conditional)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._bind(stmt.name, stmt, conditional)
            for expr in stmt.decorator_list:
                self._reads(expr)
            if isinstance(stmt, ast.ClassDef):
                for expr in (*stmt.bases, *(k.value for k in stmt.keywords)):
                    self._reads(expr)
                for item in stmt.body:  # a class body runs at import time
                    self._class_body_reads(item)
            else:
                for default in (*stmt.args.defaults, *stmt.args.kw_defaults):
                    if default is not None:
                        self._reads(default)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                self.imports[local] = alias.name if alias.asname else local
                self._bind(local, stmt, conditional)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.star_import = True
                    continue
                local = alias.asname or alias.name
                self.imports[local] = f"{'.' * stmt.level}{stmt.module or ''}.{alias.name}"
                self._bind(local, stmt, conditional)
        else:
            self._compound(stmt)

    def _compound(self, stmt: ast.stmt) -> None:
        """if/for/while/try/with/match/del/expressions: whatever they bind is only maybe bound."""
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                self._stmt(child, conditional=True)
            elif isinstance(child, ast.ExceptHandler | ast.match_case):
                if isinstance(child, ast.ExceptHandler) and child.name:
                    self._bind(child.name, None, True)
                for item in child.body:
                    self._stmt(item, conditional=True)
            elif isinstance(child, ast.expr):
                self._reads(child)
                if isinstance(stmt, ast.Expr):  # only a walrus binds here; _reads sees those
                    continue
                for node in ast.walk(child):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                        self._bind(node.id, None, True)
            elif isinstance(child, ast.withitem):
                self._reads(child.context_expr)
                if child.optional_vars is not None:
                    self._target(child.optional_vars, None, True)

    def _target(self, target: ast.expr, value: ast.expr | None, conditional: bool) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, value, conditional)
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for node in ast.walk(target):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self._bind(node.id, None, conditional)
        else:  # x[k] = v or x.attr = v mutates x: a read of x for our purposes
            self._reads(target)

    def _reads(self, expr: ast.AST) -> None:
        if not self._reading:
            return
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):  # a lambda's body does not run at import time
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.loads.add(node.id)
            elif isinstance(node, ast.NamedExpr):
                self._bind(node.target.id, None, True)
            stack.extend(ast.iter_child_nodes(node))

    def _class_body_reads(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for expr in (*stmt.decorator_list, *stmt.args.defaults):
                self._reads(expr)
        else:
            self._reads(stmt)

    def resolve(self, name: str) -> ast.AST | None:
        """The node the name is bound to once the module has run; None when it is never bound."""
        found = self.bindings.get(name, [])
        if not found:
            if self.star_import:
                raise NotLiteral(name)
            return None
        if any(b.conditional for b in found) or found[-1].node is None:
            raise NotLiteral(name)
        return found[-1].node

    def origin(self, expr: ast.expr) -> str | None:
        """`collections.OrderedDict` for `OrderedDict` / `collections.OrderedDict` / aliases."""
        if isinstance(expr, ast.Name):
            if expr.id in self.bindings:
                return self.imports.get(expr.id)
            return expr.id  # an unshadowed builtin such as dict
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            module = self.imports.get(expr.value.id)
            return f"{module}.{expr.attr}" if module else None
        return None


def _literal(expr: ast.AST, module: _Module, depth: int = 0) -> Any:
    """Evaluate a literal, an `OrderedDict([...])`, a `dict(...)`, or a constant defined above."""
    if depth > _MAX_DEPTH:
        raise NotLiteral("too deep")
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub | ast.UAdd):
        operand = _literal(expr.operand, module, depth + 1)
        if isinstance(operand, int | float | complex) and not isinstance(operand, bool):
            return -operand if isinstance(expr.op, ast.USub) else operand
        raise NotLiteral("sign of a non-number")
    if isinstance(expr, ast.Dict):
        if any(key is None for key in expr.keys):  # {**other}
            raise NotLiteral("dict unpacking")
        return {
            _literal(k, module, depth + 1): _literal(v, module, depth + 1)
            for k, v in zip(expr.keys, expr.values, strict=True)
            if k is not None
        }
    if isinstance(expr, ast.List):
        return [_literal(e, module, depth + 1) for e in expr.elts]
    if isinstance(expr, ast.Tuple):
        return tuple(_literal(e, module, depth + 1) for e in expr.elts)
    if isinstance(expr, ast.Call) and module.origin(expr.func) in _DICT_FACTORIES:
        return _dict_call(expr, module, depth)
    if isinstance(expr, ast.Name):
        return _constant(expr.id, module, depth)
    raise NotLiteral(type(expr).__name__)


def _dict_call(call: ast.Call, module: _Module, depth: int) -> dict[Any, Any]:
    if len(call.args) > 1 or any(k.arg is None for k in call.keywords):
        raise NotLiteral("dict call")
    result: dict[Any, Any] = {}
    if call.args:
        source = _literal(call.args[0], module, depth + 1)
        if isinstance(source, dict):
            result.update(source)
        elif isinstance(source, list | tuple) and all(
            isinstance(p, list | tuple) and len(p) == 2 for p in source
        ):
            result.update((k, v) for k, v in source)
        else:
            raise NotLiteral("dict() argument")
    for keyword in call.keywords:
        result[keyword.arg] = _literal(keyword.value, module, depth + 1)
    return result


def _constant(name: str, module: _Module, depth: int) -> Any:
    """A module-level constant used by a magic value (`SPEED = 3000`): only immutable values,
    bound once, so that nothing run later can have changed them."""
    node = module.resolve(name)
    if not isinstance(node, ast.expr) or len(module.bindings.get(name, [])) != 1:
        raise NotLiteral(name)
    value = _literal(node, module, depth + 1)
    if not _immutable(value):
        raise NotLiteral(name)
    return value


def _immutable(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return value is None or isinstance(value, str | bytes | int | float | complex)


def _find_method(cls: ast.ClassDef, method: str, module: _Module, depth: int = 0) -> Params | None:
    """`method` of `cls`, following base classes defined in the same file (depth-first, left to
    right, which is the MRO for the single and simple multiple inheritance scripts use)."""
    if depth > _MAX_DEPTH:
        raise NotLiteral("class hierarchy")
    for stmt in reversed(cls.body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == method:
            if stmt.decorator_list:  # a decorator may change the signature or the binding
                raise NotLiteral(f"{cls.name}.{method}")
            return params_of(stmt.args, is_async=isinstance(stmt, ast.AsyncFunctionDef))
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            targets = [stmt.target]
        if any(isinstance(t, ast.Name) and t.id == method for t in targets):
            raise NotLiteral(f"{cls.name}.{method}")
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id == "object" and "object" not in module.bindings:
            continue
        node = module.resolve(base.id) if isinstance(base, ast.Name) else None
        if not isinstance(node, ast.ClassDef):  # imported, computed or undefined: cannot tell
            raise NotLiteral(f"base of {cls.name}")
        found = _find_method(node, method, module, depth + 1)
        if found is not None:
            return found
    if cls.decorator_list and method == "__init__":  # @dataclass and friends write __init__
        raise NotLiteral(f"{cls.name} decorators")
    return None


def _commands_literal(body: ast.expr | None, module: _Module) -> tuple[str, ...] | None:
    if body is None:
        return None
    try:
        value = _literal(body, module)
    except NotLiteral:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _returned(fn: ast.FunctionDef) -> ast.expr | None:
    """The expression a `def` returns when its body is just `return <expr>` (after a docstring)."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return):
        return body[0].value
    return None


def _callable_facts(variable: str, expr: ast.expr, module: _Module) -> CallableFacts | None:
    """Facts about the value of `__script_obj__` / `__script_commands__`; None when it is None."""
    if isinstance(expr, ast.Lambda):
        return CallableFacts(
            "lambda", variable, "a lambda", params_of(expr.args), literal=_commands_literal(expr.body, module)
        )
    if not isinstance(expr, ast.Name):
        value = _literal(expr, module)  # raises NotLiteral for calls, attributes...
        return None if value is None else CallableFacts("other", variable, describe(value))
    seen: set[str] = set()
    name = expr.id
    while True:  # follow `Obj = Purge` aliases to the definition
        seen.add(name)
        node = module.resolve(name)
        if node is None:
            return CallableFacts("undefined", variable, name)
        if isinstance(node, ast.ClassDef):
            return CallableFacts(
                "class",
                node.name,
                f"the class {node.name}",
                init=_find_method(node, "__init__", module),
                run=_find_method(node, "run", module),
            )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.decorator_list:
                raise NotLiteral(node.name)
            body = _returned(node) if isinstance(node, ast.FunctionDef) else None
            return CallableFacts(
                "function",
                node.name,
                f"the function {node.name}",
                params_of(node.args, is_async=isinstance(node, ast.AsyncFunctionDef)),
                literal=_commands_literal(body, module),
            )
        if isinstance(node, ast.Name) and node.id not in seen:
            name = node.id
            continue
        if isinstance(node, ast.Lambda):
            return _callable_facts(variable, node, module)
        if isinstance(node, ast.expr) and not isinstance(node, ast.Name):
            value = _literal(node, module)
            return None if value is None else CallableFacts("other", variable, describe(value))
        raise NotLiteral(name)  # an import, or an alias loop


def read_facts(tree: ast.Module, source: bytes) -> tuple[ScriptFacts, list[str]] | None:
    """The magic variables of the module, and the names (in MAGIC_NAMES order) that need an import.

    None when the module is no script: it assigns none of `__script_id__`, `__script_title__`,
    `__script_obj__` at its top level (even conditionally).
    """
    module = _Module(tree, source)
    if not any(name in module.bindings for name in ("__script_id__", "__script_title__", "__script_obj__")):
        return None
    facts = ScriptFacts()
    unknown: list[str] = []
    for name in MAGIC_NAMES:
        try:
            if name in module.loads:  # read (and maybe mutated) after being assigned
                raise NotLiteral(name)
            node = module.resolve(name)
            if node is None:
                continue
            if not isinstance(node, ast.expr):  # `def __script_commands__(settings)`, `class __script_obj__`
                node = ast.Name(name, ast.Load())
            if name == "__script_obj__":
                facts.obj = _callable_facts(name, node, module) or CallableFacts("other", name, "null")
            elif name == "__script_commands__":
                facts.commands = _callable_facts(name, node, module)
            else:
                facts.values[name] = _literal(node, module)
        except NotLiteral:
            unknown.append(name)
    return facts, unknown
