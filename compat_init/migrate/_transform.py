"""The libcst transformer: one source file in, the rewritten source out."""
from __future__ import annotations

import ast
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
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


def _literal(code: str) -> object:
    try:
        return ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return _rules.NO_VALUE


class _Transformer(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, module: cst.Module, aliases: Dict[str, str], context: CodemodContext) -> None:
        super().__init__()
        self.module = module
        self.aliases = aliases
        self.context = context
        self.rewrites: List[Rewrite] = []
        self.skipped: List[Skip] = []

    def _qualified(self, node: cst.BaseExpression) -> Set[str]:
        names = set()
        for qualified in self.get_metadata(QualifiedNameProvider, node, set()):
            name = qualified.name
            head, _, rest = name.partition(".")
            if head in self.aliases:
                name = self.aliases[head] + ("." + rest if rest else "")
            names.add(name)
        return names

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        rules = [_rules.BY_NAME[n] for n in self._qualified(original.func) if n in _rules.BY_NAME]
        if not rules:
            return updated
        rule = rules[0]
        line = self.get_metadata(PositionProvider, original).start.line
        old_code = self.module.code_for_node(original)
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
        AddImportsVisitor.add_needed_import(self.context, "compat_init")
        self.rewrites.append(Rewrite(line, old_code, cst.Module([]).code_for_node(new)))
        return new


def migrate_source(source: str, path: str = "<string>") -> FileResult:
    """Rewrites one file's source; never raises for a file that does not parse."""
    if not any(t in source for t in TRIGGERS):
        return FileResult(path, source, source, [], [], None)
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return FileResult(path, source, source, [], [], "cannot parse: " + first)
    wrapper = MetadataWrapper(module)
    aliases = _Aliases()
    wrapper.visit(aliases)
    context = CodemodContext()
    transformer = _Transformer(wrapper.module, aliases.aliases, context)
    new_module = wrapper.visit(transformer)
    if transformer.rewrites:
        new_module = AddImportsVisitor(context).transform_module(new_module)
    return FileResult(path, source, new_module.code, transformer.rewrites, transformer.skipped, None)


def rules_table() -> List[Tuple[str, str]]:
    return _rules.describe()
