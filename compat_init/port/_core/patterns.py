"""Regular expressions a user writes (a rules file's patterns and
replacements, ``--keep-initial``), matched with a bound on time: Python's
``re`` backtracks without limit (``(a|aa)+b`` against a long name takes
longer than the universe), so patterns run on the ``regex`` engine, whose
matches take a timeout.  A match over ``LIMIT`` is one error naming the
pattern and the name, never a hang.  Pure Python: no TensorFlow, no numpy.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Optional

import regex

from compat_init._errors import UsageError

#: What ``compile_pattern`` raises for a text that is not a regular expression
#: (Python's and the bounded engine's errors).
PATTERN_ERRORS = (re.error, regex.error)

#: The most one match of a user's pattern against one name may take, in seconds.
LIMIT = 1.0


@functools.lru_cache(maxsize=1024)
def compile_pattern(text: str) -> Any:
    """``text`` compiled on the bounded engine, once it is a regular
    expression for Python's ``re`` too (a rules file is written for it);
    raises one of ``PATTERN_ERRORS`` where it is not."""
    re.compile(text)
    return regex.compile(text)


#: What ``compile_pattern`` returns.
BOUNDED = type(regex.compile(""))


def from_re(pattern: Any) -> Any:
    """A pattern compiled by ``re`` (a Python caller's), recompiled on the
    bounded engine with its flags."""
    return regex.compile(pattern.pattern, pattern.flags)


def fullmatch(pattern: Any, name: str, where: str) -> Optional[Any]:
    """``pattern`` (compiled by ``compile_pattern``) matched against the whole
    of ``name`` within ``LIMIT`` seconds.

    Raises:
      UsageError: the match takes longer, naming ``where`` (a rules file's
        FILE:LINE, an option), the pattern and the name.
    """
    try:
        return pattern.fullmatch(name, timeout=LIMIT)
    except TimeoutError:
        raise UsageError("{}: the pattern {} takes over {:g} s to match the name {} (a quantifier over a group that "
                         "can match the same text in several ways, as in (a|aa)+, tries exponentially many); write "
                         "it without nesting them".format(where, ascii(pattern.pattern)[:200], LIMIT,
                                                          ascii(name)[:200])) from None


def check_template(text: str, template: str) -> None:
    """``template`` (a replacement: ``transformer_layer_\\1``) is valid for
    the pattern ``text``: its escapes exist and its group references name
    groups of the pattern.  Raises ``ValueError`` saying which is not."""
    try:
        # The pattern or nothing: a match whatever the pattern, with the pattern's groups (unmatched: empty).
        re.compile(text + "|").fullmatch("").expand(template)  # type: ignore[union-attr]
    except re.error as error:
        raise ValueError(str(error)) from None
    except IndexError as error:  # an unknown group name (\g<x>)
        raise ValueError(str(error).strip("'\"")) from None
