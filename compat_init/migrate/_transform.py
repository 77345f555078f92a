"""The libcst transformer: one source file in, the rewritten source out.

Only the smallest nodes change: the callee of a legacy call, and the
arguments that need new keywords or values (the others are the file's own
nodes, comments and whitespace included).  The source is parsed from bytes, so
its PEP 263 coding line and BOM are honoured and written back; every byte
outside the rewritten calls and the added import stays as it was.
"""
from __future__ import annotations

import ast
import sys
import threading
import tokenize
import re
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple, Union, cast

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from compat_init.migrate import _rules

#: A file without any of these holds no legacy initializer call (nor a
#: tf.layers call to note).
TRIGGERS = ("initializer", "nitializers", "Glorot", "glorot", "HeNormal", "HeUniform", "he_",
            "Lecun", "lecun", "VarianceScaling", "variance_scaling", "TruncatedNormal",
            "RandomNormal", "RandomUniform", "Orthogonal", "orthogonal", "layers")

#: Where a qualified name comes from TensorFlow/Keras (a callee resolved to
#: anything else, for a legacy-looking name, is a wrapper: "not resolved").
TF_PREFIXES = ("tensorflow.", "keras.", "tf_keras.", "tf_slim.")


class Rewrite(NamedTuple):
    line: int
    old: str
    new: str
    spelling: str = ""


class Skip(NamedTuple):
    """A legacy call left alone."""

    line: int
    reason: str
    spelling: str = ""


class Unresolved(NamedTuple):
    """A call that looks like a legacy initializer but whose callee cannot
    be resolved statically (star import, a wrapper module, a relative import)."""

    line: int
    spelling: str
    reason: str


class Note(NamedTuple):
    """A remark on a call: a tf.compat.v1.layers call Keras 3 removed, or a
    rewritten call whose legacy default had another meaning on TF 2."""

    line: int
    spelling: str
    message: str
    kind: str = "note"  # "keras3" for the tf.compat.v1.layers notes


class FileResult(NamedTuple):
    path: str
    source: str
    new_source: str
    rewrites: List[Rewrite]
    skipped_calls: List[Skip]
    error: Optional[str]  #: the file was not parsed (never touched)
    unresolved: List[Unresolved] = []
    notes: List[Note] = []
    new_bytes: Optional[bytes] = None  #: the rewritten file in its own encoding

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
        self.defined: Set[str] = set()  # functions and classes, any depth
        self.relative: Set[str] = set()  # names from relative imports
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
                self.relative.add(local)
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
        self.defined.add(node.name.value)
        self.depth += 1

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.others.add(node.name.value)
        self.defined.add(node.name.value)
        self.depth += 1

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.depth += 1

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.depth -= 1

    def binds_otherwise(self, name: str) -> bool:
        """``name`` is bound by something other than ``import name``."""
        return (name in self.others or name in self.assigned
                or self.imports.get(name, {name}) != {name})

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
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _rules.NO_VALUE


def _free_alias(bindings: "_Bindings") -> str:
    """``compat_init``, or the first free ``compat_init_N`` when the file
    binds ``compat_init`` to something else (a parameter, a variable)."""
    if not bindings.binds_otherwise("compat_init"):
        return "compat_init"
    taken = set(bindings.imports) | bindings.others | set(bindings.assigned)
    index = 1
    while "compat_init_{}".format(index) in taken:
        index += 1
    return "compat_init_{}".format(index)


class _Transformer(cst.CSTTransformer):

    def __init__(self, module: cst.Module, aliases: Dict[str, str], table: Optional[Dict[str, str]],
                 bindings: "_Bindings", alias: str) -> None:
        super().__init__()
        self.module = module
        self.aliases = aliases
        self.table = table  # fast path: name -> qualified prefix
        self.bindings = bindings
        self.alias = alias  # what the rewritten calls name compat_init by
        self.rewrites: List[Rewrite] = []
        self.skipped: List[Skip] = []
        self.unresolved: List[Unresolved] = []
        self.notes: List[Note] = []

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

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    def _unknown(self, original: cst.Call, names: Set[str]) -> None:
        """A call no rule knows: a tf.layers note, a legacy-looking name that
        cannot be resolved, or nothing to say."""
        written = _dotted(original.func)
        for name in names:
            namespace, _, layer = name.rpartition(".")
            if namespace in _rules.V1_LAYERS_NAMESPACES and layer[:1].islower():
                self.notes.append(Note(
                    self._line(original), written or name,
                    "tf.compat.v1.layers.{} is not available with Keras 3 (TF >= 2.16): install "
                    "tf-keras and set TF_USE_LEGACY_KERAS=1, or port the layer to Keras".format(layer),
                    "keras3"))
                return
        if written is None or not _rules.looks_legacy(written):
            return
        tensorflow = sorted(n for n in names if n.startswith(TF_PREFIXES))
        if tensorflow:
            if not any(n.rsplit(".", 1)[-1] in _rules.LEGACY_LAST_NAMES for n in tensorflow):
                return  # a TensorFlow name, not one of the legacy initializers (Zeros, ...)
            # a random initializer's name in a TensorFlow namespace no rule knows: said, not guessed
            self.unresolved.append(Unresolved(self._line(original), written, "it resolves to {}, a namespace "
                                              "compat-init migrate has no rule for".format(", ".join(tensorflow))))
            return
        if any(n == "compat_init" or n.startswith("compat_init.") for n in names):
            return  # compat_init's own call: already migrated
        head = written.split(".")[0]
        if not names and head in self.bindings.defined and not self.bindings.star:
            return  # the file's own function or class
        if self.bindings.star and head not in self.bindings.imports:
            why = "a star import may define it"
        elif head in self.bindings.relative:
            why = "{} comes from a relative import (a wrapper?)".format(head)
        elif names:
            why = "it resolves to {}, not to TensorFlow or Keras (an alias module?)".format(
                ", ".join(sorted(names)))
        else:
            why = "{} is not bound by an import in this file".format(head)
        self.unresolved.append(Unresolved(self._line(original), written, why))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        names = self._qualified(original.func)
        rules = {_rules.BY_NAME[n] for n in names if n in _rules.BY_NAME}
        if not rules:
            self._unknown(original, names)
            return updated
        line = self._line(original)
        written = _dotted(original.func) or self.module.code_for_node(original.func)
        old_code = self.module.code_for_node(original)
        if len(rules) > 1 or any(n not in _rules.BY_NAME for n in names):
            self.skipped.append(Skip(line, "{} may name different objects here ({})".format(
                written, ", ".join(sorted(names))), written))
            return updated
        rule = rules.pop()
        try:
            positional: List[_rules.Arg] = []
            keywords: Dict[str, _rules.Arg] = {}
            # `updated` holds the rewritten inner calls: keep them.
            for arg in updated.args:
                if arg.star:
                    raise _rules.Unmappable("*args/**kwargs cannot be mapped safely")
                code = self.module.code_for_node(arg.value)
                bound = _rules.Arg(code, _literal(code), arg)
                if arg.keyword is None:
                    if keywords:
                        raise _rules.Unmappable("positional argument after keyword")
                    positional.append(bound)
                else:
                    keywords[arg.keyword.value] = bound
            bound_args = _rules.bind(rule, positional, keywords)
            converted = _rules.check_call(rule, bound_args)
        except _rules.Unmappable as reason:
            self.skipped.append(Skip(line, str(reason), written))
            return updated
        new = updated.with_changes(
            func=cst.Attribute(value=cst.Name(self.alias), attr=cst.Name(rule.target)),
            args=_new_args(converted, updated.args))
        self.rewrites.append(Rewrite(line, old_code, cst.Module([]).code_for_node(new), written))
        if rule.note is not None:
            remark = rule.note(bound_args)
            if remark:
                self.notes.append(Note(line, written, remark))
        return new


_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                         whitespace_after=cst.SimpleWhitespace(""))


def _new_args(converted: _rules.Converted, original: Any) -> List[cst.Arg]:
    """The rewritten call's arguments: the call's own Arg nodes where they are
    kept (only the keyword changes; comments, commas and line breaks stay),
    new nodes for new values."""
    args: List[cst.Arg] = []
    for key, value in converted:
        if isinstance(value, _rules.Arg):
            node = cast(cst.Arg, value.handle)
            if node.keyword is None or node.keyword.value != key:
                node = node.with_changes(keyword=cst.Name(key), equal=_EQUAL)
            args.append(node)
        elif isinstance(value, _rules.Wrap):
            inner = cast(cst.Arg, value.arg.handle)
            call = cst.Call(func=cst.Name(value.func), args=[cst.Arg(value=inner.value)])
            args.append(inner.with_changes(keyword=cst.Name(key), equal=_EQUAL, value=call))
        else:
            args.append(cst.Arg(keyword=cst.Name(key), value=cst.parse_expression(value), equal=_EQUAL))
    if args and original:
        last_kept = args[-1]
        trailing = original[-1].comma
        comma = last_kept.comma
        if (not isinstance(trailing, cst.Comma) and isinstance(comma, cst.Comma)
                and "#" not in cst.Module([]).code_for_node(comma)):
            # an argument after it was dropped: no stray trailing comma
            args[-1] = last_kept.with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args


# Each concrete transformer declares its own dependencies (libcst caches the
# inherited set per class hierarchy, so the base is never instantiated).
class _FastTransformer(_Transformer):
    METADATA_DEPENDENCIES = (PositionProvider,)


class _PreciseTransformer(_Transformer):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)


def _ast_dotted(node: Any) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _mentions(source: Union[str, bytes]) -> Optional[bool]:
    """Whether the code (not its strings and comments) may name a legacy
    initializer or a ``tf.layers`` function, from Python's own parser (tens
    of times faster than libcst's); None when ``ast`` cannot parse it (libcst
    then decides).  A superset of what the transformer acts on: a distinctive
    name (``*_initializer``, Keras' Camel classes) anywhere, a plain one
    (``orthogonal``) after ``initializers.``, ``tf...layers.X``, or an import
    of either."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeDecodeError):
        return None
    legacy, distinctive = _rules.LEGACY_LAST_NAMES, _rules.DISTINCTIVE_LAST_NAMES
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in distinctive or node.attr == "initializers":
                return True
            if node.attr in legacy and _ast_dotted(node.value).endswith("initializers"):
                return True
            if isinstance(node.value, ast.Attribute) and node.value.attr == "layers" and \
                    _ast_dotted(node.value).split(".")[0] in ("tf", "tensorflow", "tf1", "v1"):
                return True
        elif isinstance(node, ast.Name):
            if node.id in distinctive:
                return True
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if alias.name in distinctive or alias.name == "*" or (
                        alias.name in legacy and module.endswith("initializers")) or (
                        alias.name in ("layers", "initializers", "init_ops", "slim")):
                    return True
        elif isinstance(node, ast.Import):
            if any(a.asname and a.name.endswith(("initializers", "layers", "slim", "init_ops"))
                   for a in node.names):
                return True
    return False


def _encoding(data: bytes) -> str:
    """The encoding Python reads a module's bytes in (coding line; a BOM is
    ``utf-8-sig``, which writes it back)."""
    import io

    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def _decode(data: bytes) -> str:
    """The text of a module's bytes, as Python reads them (coding line, BOM)."""
    return data.decode(_encoding(data))


#: How deep libcst parses safely here, measured (issue 19): with the parse on a
#: 512 MiB thread stack and a recursion limit of 100,000, brackets nested
#: 2,000 deep parse and 3,000 crash its native parser; chains of 10,000 unary
#: or binary operators, attribute links or elifs parse.  Python itself takes at
#: most 200 nested brackets.  Past these, a file is skipped, decided here
#: before libcst runs.
MAX_BRACKETS = 1000
MAX_CHAIN = 5000
#: libcst's native parser takes at most 3,000 adjacent string literals
#: (implicit concatenation; measured: 3,001 is its syntax error).
MAX_STRINGS = 3000
_PARSE_STACK = 512 * 2 ** 20
_DEEP_LOCK = threading.Lock()
_PARSE_RECURSION = 100000
_CHAIN_OPS = {"+", "-", "*", "/", "//", "%", "@", "**", "<<", ">>", "&", "|", "^", ".", "==", "!=", "<", ">",
              "<=", ">=", "and", "or", "not", "~", "if", "else", "in", "is"}


def nesting(text: str) -> Tuple[int, int, int]:
    """(deepest bracket nesting, longest operator chain in one logical line
    or run of ``elif``s, longest run of adjacent string literals), read with
    the tokenizer (no recursion)."""
    import io

    brackets = depth = chain = longest = elifs = strings = run = 0
    between = {tokenize.NL, tokenize.COMMENT}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        kind, string = token.type, token.string
        if kind == tokenize.STRING:
            run += 1
            strings = max(strings, run)
        elif kind not in between:
            run = 0
        if kind == tokenize.OP and string in "([{":
            depth += 1
            brackets = max(brackets, depth)
        elif kind == tokenize.OP and string in ")]}":
            depth -= 1
        elif (kind == tokenize.OP or kind == tokenize.NAME) and string in _CHAIN_OPS:
            chain += 1
            longest = max(longest, chain)
        elif kind == tokenize.NAME and string == "elif":
            elifs += 1
            longest = max(longest, elifs)
        elif kind == tokenize.NAME and string == "if" and token.start[1] == len(token.line) - len(
                token.line.lstrip()):
            elifs = 0
        if kind == tokenize.NEWLINE:
            chain = 0
    return brackets, longest, strings


def _deep(function: Any, *args: Any) -> Any:
    """``function(*args)`` on a thread with a large stack and a high recursion
    limit (libcst recurses as deep as the code nests), one at a time."""
    import threading

    outcome: Dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            outcome["error"] = error

    with _DEEP_LOCK:
        limit = sys.getrecursionlimit()
        size = threading.stack_size()
        try:
            sys.setrecursionlimit(max(limit, _PARSE_RECURSION))
            threading.stack_size(_PARSE_STACK)
            worker = threading.Thread(target=target, name="compat-init-parse")
            worker.start()
        finally:
            threading.stack_size(size)
        worker.join()
        sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


_FF_INDENT = re.compile(r"^([ \t\f]*\f[ \t\f]*)(?=\S)", re.M)


def _normalized(text: str) -> Optional[str]:
    """What libcst can parse, where ``text`` has what Python takes and libcst
    does not: form feeds in a line's indentation, CR-only line endings.  The
    same lines, in the same number; None when nothing needs it."""
    norm = text
    if "\r" in norm and "\n" not in norm:
        norm = norm.replace("\r", "\n")
    if "\f" in norm:
        norm = _FF_INDENT.sub(lambda m: m.group(1).replace("\f", ""), norm)
    return None if norm == text else norm


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> List[str]:
    """Lines as Python's tokenizer ends them (\\n, \\r\\n, \\r), separators kept;
    not ``str.splitlines``, which also breaks at form feeds."""
    return _LINE.findall(text)


def _restored(original: str, norm: str, new: str) -> str:
    """``new`` (the rewrite of ``norm``) with every line the rewrite did not
    change taken from ``original`` byte for byte, a changed line given back its
    original indentation, and CR-only endings kept."""
    import difflib

    cr_only = "\r" in original and "\n" not in original
    old_lines, norm_lines, new_lines = _lines(original), _lines(norm), _lines(new)
    out: List[str] = []
    matcher = difflib.SequenceMatcher(None, norm_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(old_lines[i1:i2])
            continue
        # A changed line takes back the indentation of the old line it most
        # resembles (not an added import line that happens to stand first).
        partner: Dict[int, int] = {}
        for i in range(i1, i2):
            scores = [(difflib.SequenceMatcher(None, norm_lines[i], new_lines[j]).ratio(), j) for j in range(j1, j2)
                      if j not in partner.values()]
            if scores and max(scores)[0] > 0.5:
                partner[i] = max(scores)[1]
        by_new = {j: i for i, j in partner.items()}
        for j in range(j1, j2):
            line = new_lines[j]
            if cr_only and line.endswith("\n"):
                line = line[:-1] + "\r"
            if j in by_new:
                indent = re.match(r"[ \t\f]*", old_lines[by_new[j]]).group(0)  # type: ignore[union-attr]
                if indent.replace("\f", "") == re.match(r"[ \t]*", line).group(0):  # type: ignore[union-attr]
                    line = indent + line.lstrip(" \t")
            out.append(line)
    return "".join(out)


def migrate_source(source: Union[str, bytes], path: str = "<string>") -> FileResult:
    """Rewrites one file's source (text, or the file's bytes: then its coding
    line and BOM are honoured and ``new_bytes`` is in the same encoding).
    Never raises: a file that cannot be parsed, decoded or rewritten is a
    FileResult with ``error`` set, untouched."""
    try:
        text = _decode(source) if isinstance(source, bytes) else source
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        return FileResult(path, "", "", [], [], "cannot decode: {}".format(error))
    if not any(t in text for t in TRIGGERS):
        return FileResult(path, text, text, [], [], None)
    try:
        brackets, chain, strings = nesting(text)
    except (SyntaxError, tokenize.TokenError) as error:
        message = str(error.args[0] if error.args else error)
        if "too many nested parentheses" in message:  # Python 3.12+'s own tokenizer: 200 levels
            return FileResult(path, text, text, [], [], "too deeply nested to parse (more than 200 nested "
                              "brackets, Python's own limit)")
        return FileResult(path, text, text, [], [], "cannot parse: {}".format(message))
    if strings > MAX_STRINGS:
        return FileResult(path, text, text, [], [], "too deeply nested to parse ({} adjacent string literals; "
                          "compat_init parses up to {} in one implicit concatenation)".format(strings, MAX_STRINGS))
    if brackets > MAX_BRACKETS or chain > MAX_CHAIN:
        return FileResult(path, text, text, [], [], "too deeply nested to parse ({} levels; compat_init parses up "
                          "to {} nested brackets and {} chained operators or elifs)".format(
                              max(brackets, chain), MAX_BRACKETS, MAX_CHAIN))
    if _mentions(source) is False:
        return FileResult(path, text, text, [], [], None)
    try:
        norm = _normalized(text)
        if norm is None:
            return _deep(_migrate, source, text, path)
        result = _deep(_migrate, norm, norm, path)
        new_text = _restored(text, norm, result.new_source) if result.changed else text
        new_bytes = None
        if isinstance(source, bytes):
            new_bytes = new_text.encode(_encoding(source))
        return result._replace(source=text, new_source=new_text, new_bytes=new_bytes)
    except (cst.ParserSyntaxError, RecursionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return FileResult(path, text, text, [], [], "cannot parse: " + first)
    except Exception as error:  # noqa: BLE001 - no input may crash the whole run
        return FileResult(path, text, text, [], [], "not rewritten (compat_init error, please report it): "
                          "{}: {}".format(type(error).__name__, error))


def _migrate(source: Union[str, bytes], text: str, path: str) -> FileResult:
    module = cst.parse_module(source)
    bindings = _Bindings()
    module.visit(bindings)
    table = bindings.resolver()
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)  # freshly parsed: ours
    alias = _free_alias(bindings)
    transformer: _Transformer
    if table is None:
        # Shadowed or re-bound names: resolve with libcst's scope analysis.
        aliases = _Aliases()
        wrapper.visit(aliases)
        transformer = _PreciseTransformer(wrapper.module, aliases.aliases, None, bindings, alias)
    else:
        transformer = _FastTransformer(wrapper.module, {}, table, bindings, alias)
    new_module = wrapper.visit(transformer)
    if transformer.rewrites:
        new_module = add_import(new_module, alias)
    new_text = new_module.code
    new_bytes = new_module.bytes if isinstance(source, bytes) else None
    return FileResult(path, text, new_text, transformer.rewrites, transformer.skipped, None,
                      transformer.unresolved, transformer.notes, new_bytes)


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _imports_compat_init(statement: cst.CSTNode, alias: str) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.Import):
            for a in small.names:
                local = a.asname.name.value if a.asname is not None and isinstance(
                    a.asname.name, cst.Name) else None
                if cst.Module([]).code_for_node(a.name) == "compat_init" and local in (
                        None if alias == "compat_init" else alias, alias):
                    return True
    return False


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def add_import(module: cst.Module, alias: str = "compat_init") -> cst.Module:
    """Adds ``import compat_init`` (``as alias`` when the file binds the name
    otherwise) once: after the module's first block of imports (after the
    docstring and ``__future__`` imports), or at the top."""
    body = list(module.body)
    if any(_imports_compat_init(s, alias) for s in body):
        return module
    index = 0
    if body and _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import(body[index]):
        index += 1
    statement = "import compat_init\n" if alias == "compat_init" else "import compat_init as {}\n".format(alias)
    body.insert(index, cst.parse_statement(statement, config=module.config_for_parsing))
    if index + 1 < len(body) and not body[index + 1].leading_lines and index > 0:
        # keep the code after the import block visually separated
        body[index + 1] = body[index + 1].with_changes(leading_lines=[cst.EmptyLine()])
    return module.with_changes(body=body)


def rules_table() -> List[Tuple[str, str]]:
    return _rules.describe()
