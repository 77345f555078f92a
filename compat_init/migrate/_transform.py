"""The libcst transformer: one source file in, the rewritten source out."""
from __future__ import annotations

import ast
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from compat_init.migrate import _rules

#: A file without any of these cannot hold a legacy initializer call.
TRIGGERS = ("initializer", "nitializers", "Glorot", "glorot", "HeNormal", "HeUniform", "he_",
            "Lecun", "lecun", "VarianceScaling", "variance_scaling")


class Rewrite(NamedTuple):
    line: int
    old: str
    new: str


class Skip(NamedTuple):
    line: int
    reason: str


class FileResult(NamedTuple):
    path: str
    source: str
    new_source: str
    rewrites: List[Rewrite]
    skipped_calls: List[Skip]
    error: Optional[str]  #: the file was not parsed (never touched)

    @property
    def changed(self) -> bool:
        return self.error is None and self.new_source != self.source


class _Aliases(cst.CSTVisitor):
    """Module-level ``slim = tf.contrib.slim``: name -> qualified name."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.aliases: Dict[str, str] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        if not isinstance(node.value, (cst.Name, cst.Attribute)):
            return
        names = self.get_metadata(QualifiedNameProvider, node.value, set())
        if len(names) == 1:
            self.aliases[node.targets[0].target.value] = next(iter(names)).name

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # module level only

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def _dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class _Bindings(cst.CSTVisitor):
    """Every name a file binds, in one cheap pass (no scope analysis).

    Import aliases (``import tensorflow.compat.v1 as tf``, ``from
    tensorflow.contrib import layers``) and module-level ``slim =
    tf.contrib.slim`` are recorded; a name that is also bound any other way
    (a parameter, a loop variable, a second import) makes the file ambiguous,
    and the precise scope-aware resolver is used instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.imports: Dict[str, Set[str]] = {}
        self.assigned: Dict[str, str] = {}
        self.others: Set[str] = set()
        self.star = False
        self.depth = 0

    def _bind(self, name: str, target: str) -> None:
        self.imports.setdefault(name, set()).add(target)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            dotted = _dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, dotted)
            else:
                head = dotted.split(".")[0]
                self._bind(head, head)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self.star = True
            return
        module = _dotted(node.module) if node.module is not None else None
        for alias in node.names:
            name = alias.name.value if isinstance(alias.name, cst.Name) else ""
            local = alias.asname.name.value if alias.asname is not None and isinstance(
                alias.asname.name, cst.Name) else name
            if node.relative or module is None:
                self.others.add(local)
            else:
                self._bind(local, module + "." + name)

    def visit_Assign(self, node: cst.Assign) -> None:
        simple = (self.depth == 0 and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
                  and isinstance(node.value, (cst.Name, cst.Attribute)))
        if simple:
            name = node.targets[0].target.value  # type: ignore[union-attr,attr-defined]
            if name in self.assigned:
                self.others.add(name)
            self.assigned[name] = _dotted(node.value) or ""
            return
        for target in node.targets:
            self._collect(target.target)

    def _collect(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            self.others.add(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self._collect(element.value)
        elif isinstance(node, cst.StarredElement):
            self._collect(node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._collect(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._collect(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._collect(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._collect(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._collect(node.asname.name)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._collect(node.name.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._collect(node.target)

    def visit_Param(self, node: cst.Param) -> None:
        self.others.add(node.name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.others.add(node.name.value)
        self.depth += 1

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.others.add(node.name.value)
        self.depth += 1

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.depth -= 1

    def resolver(self) -> Optional[Dict[str, str]]:
        """name -> qualified prefix, or None when only scope analysis is safe."""
        if self.star:
            return None
        table: Dict[str, str] = {}
        for name, targets in self.imports.items():
            if len(targets) > 1 or name in self.others or name in self.assigned:
                return None
            table[name] = next(iter(targets))
        for name, source in self.assigned.items():
            if name in self.others:
                return None
            head, _, rest = source.partition(".")
            if head in table:
                table[name] = table[head] + ("." + rest if rest else "")
        return table


def _literal(code: str) -> object:
    try:
        return ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return _rules.NO_VALUE


class _Transformer(cst.CSTTransformer):

    def __init__(self, module: cst.Module, aliases: Dict[str, str], table: Optional[Dict[str, str]]) -> None:
        super().__init__()
        self.module = module
        self.aliases = aliases
        self.table = table  # fast path: name -> qualified prefix
        self.rewrites: List[Rewrite] = []
        self.skipped: List[Skip] = []

    def _qualified(self, node: cst.BaseExpression) -> Set[str]:
        if self.table is not None:
            dotted = _dotted(node)
            if dotted is None:
                return set()
            head, _, rest = dotted.partition(".")
            if head not in self.table:
                return set()
            return {self.table[head] + ("." + rest if rest else "")}
        names = set()
        for qualified in self.get_metadata(QualifiedNameProvider, node, set()):
            name = qualified.name
            head, _, rest = name.partition(".")
            if head in self.aliases:
                name = self.aliases[head] + ("." + rest if rest else "")
            names.add(name)
        return names

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        names = self._qualified(original.func)
        rules = {_rules.BY_NAME[n] for n in names if n in _rules.BY_NAME}
        if not rules:
            return updated
        line = self.get_metadata(PositionProvider, original).start.line
        old_code = self.module.code_for_node(original)
        if len(rules) > 1 or any(n not in _rules.BY_NAME for n in names):
            self.skipped.append(Skip(line, "{} may name different objects here ({}); left alone".format(
                self.module.code_for_node(original.func), ", ".join(sorted(names)))))
            return updated
        rule = rules.pop()
        try:
            positional: List[_rules.Arg] = []
            keywords: Dict[str, _rules.Arg] = {}
            for arg in original.args:
                if arg.star:
                    raise _rules.Unmappable("*args/**kwargs cannot be mapped safely; left alone")
                code = self.module.code_for_node(arg.value)
                if arg.keyword is None:
                    if keywords:
                        raise _rules.Unmappable("positional argument after keyword; left alone")
                    positional.append((code, _literal(code)))
                else:
                    keywords[arg.keyword.value] = (code, _literal(code))
            converted = rule.convert(_rules.bind(rule, positional, keywords))
        except _rules.Unmappable as reason:
            self.skipped.append(Skip(line, str(reason)))
            return updated
        new_args = [
            cst.Arg(keyword=cst.Name(key), value=cst.parse_expression(code),
                    equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                          whitespace_after=cst.SimpleWhitespace("")),
                    comma=cst.MaybeSentinel.DEFAULT)
            for key, code in converted
        ]
        new = updated.with_changes(func=cst.parse_expression(rule.target), args=new_args)
        self.rewrites.append(Rewrite(line, old_code, cst.Module([]).code_for_node(new)))
        return new


# Each concrete transformer declares its own dependencies (libcst caches the
# inherited set per class hierarchy, so the base is never instantiated).
class _FastTransformer(_Transformer):
    METADATA_DEPENDENCIES = (PositionProvider,)


class _PreciseTransformer(_Transformer):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)


def migrate_source(source: str, path: str = "<string>") -> FileResult:
    """Rewrites one file's source; never raises for a file that does not parse."""
    if not any(t in source for t in TRIGGERS):
        return FileResult(path, source, source, [], [], None)
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return FileResult(path, source, source, [], [], "cannot parse: " + first)
    bindings = _Bindings()
    module.visit(bindings)
    table = bindings.resolver()
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)  # freshly parsed: ours
    transformer: _Transformer
    if table is None:
        # Shadowed or re-bound names: resolve with libcst's scope analysis.
        aliases = _Aliases()
        wrapper.visit(aliases)
        transformer = _PreciseTransformer(wrapper.module, aliases.aliases, None)
    else:
        transformer = _FastTransformer(wrapper.module, {}, table)
    new_module = wrapper.visit(transformer)
    if transformer.rewrites:
        new_module = add_import(new_module)
    return FileResult(path, source, new_module.code, transformer.rewrites, transformer.skipped, None)


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _imports_compat_init(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.Import) and any(
                cst.Module([]).code_for_node(a.name) == "compat_init" and a.asname is None
                for a in small.names):
            return True
    return False


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def add_import(module: cst.Module) -> cst.Module:
    """Adds ``import compat_init`` once: after the module's first block of
    imports (after the docstring and ``__future__`` imports), or at the top."""
    body = list(module.body)
    if any(_imports_compat_init(s) for s in body):
        return module
    index = 0
    if body and _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import(body[index]):
        index += 1
    body.insert(index, cst.parse_statement("import compat_init\n"))
    if index + 1 < len(body) and not body[index + 1].leading_lines and index > 0:
        # keep the code after the import block visually separated
        body[index + 1] = body[index + 1].with_changes(leading_lines=[cst.EmptyLine()])
    return module.with_changes(body=body)


def rules_table() -> List[Tuple[str, str]]:
    return _rules.describe()
