"""Declared settings of an experiment file's sections: the typed configs of the kinds.

A section (``attack:``, ``faces:``, ``train:``...) is a frozen dataclass whose fields are declared with
:func:`setting`: the default and the :class:`Rule` the value must meet (type, range, allowed choices).
:func:`read_section` reads the mapping under one key into it, in one place: a key the dataclass does not
declare is refused, every value is checked by its rule, a field whose rule is itself such a dataclass is read
as a nested section; each message names the key (``attack.bound``) and the bad value, and the kind's
read-config stage (:func:`~affectlab.experiments.config.names_the_file`) puts the file in front of it.
:func:`section_dict` gives the section back as the mapping written into the run folder's ``config.yaml``.

>>> @dataclass(frozen=True)
... class Attack:
...     bound: float = setting(0.15, number(0, 1, low_open=True))
...     method: str = setting("scaled", one_of("sign", "scaled"))
>>> read_section({"attack": {"bound": 0.1}}, "attack", Attack)
Attack(bound=0.1, method='scaled')
>>> read_section({"attack": {"method": "fgsm"}}, "attack", Attack)
Traceback (most recent call last):
...
affectlab.errors.ConfigError: attack.method must be sign or scaled, got 'fgsm'
>>> read_section({"attack": {"steps": 3}}, "attack", Attack)
Traceback (most recent call last):
...
affectlab.errors.ConfigError: attack: unknown key(s) steps (known: bound, method)
>>> section_dict(read_section({}, "attack", Attack))
{'bound': 0.15, 'method': 'scaled'}
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from affectlab.checks import is_integer, is_number
from affectlab.errors import ConfigError

__all__ = ["Rule", "flag", "integer", "internal", "number", "one_of", "read_section", "refuse_unknown_keys", "regex",
           "section_dict", "setting", "text", "text_list", "written_order"]

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """What one setting accepts, in the words of the message (``"an int >= 1"``), and what it becomes.

    ``convert`` turns an accepted value into the stored one (``cam: gradcam`` -> ``[gradcam]``); ``template``
    is the message, formatted with ``key``, ``words`` and ``value``.
    """

    words: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] | None = None
    template: str = "{key} must be {words}, got {value!r}"

    def check(self, value: Any, key: str) -> Any:
        """``value`` (converted) when the rule accepts it, else a :class:`ConfigError` naming ``key`` and it."""
        if not self.accepts(value):
            raise ConfigError(self.template.format(key=key, words=self.words, value=value))
        return value if self.convert is None else self.convert(value)

    def or_null(self) -> Rule:
        """The same rule that also accepts ``null`` (kept as None)."""
        convert = self.convert
        return Rule(f"null or {self.words}", lambda v: v is None or self.accepts(v),
                    None if convert is None else (lambda v: None if v is None else convert(v)), self.template)


def integer(low: int, high: int | None = None, *, noun: str = "an int") -> Rule:
    """An integer (``True`` and ``2.0`` are not) ``>= low`` (and ``<= high``).

    >>> integer(1).words, integer(1, 50, noun="an integer").words
    ('an int >= 1', 'an integer from 1 to 50')
    """
    words = f"{noun} >= {low}" if high is None else f"{noun} from {low} to {high}"
    return Rule(words, lambda v: is_integer(v) and v >= low and (high is None or v <= high))


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Rule:
    """A real number (not a bool) within the bounds given.

    >>> number(0, low_open=True).words, number(0).words, number(0, 1, low_open=True).words
    ('a number > 0', 'a number >= 0', 'a number in (0, 1]')
    """
    def accepts(v: Any) -> bool:
        if not is_number(v):
            return False
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    if low is not None and high is not None:
        words = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        words = f"a number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        words = f"a number {'<' if high_open else '<='} {high:g}"
    else:
        words = "a number"
    return Rule(words, accepts)


def one_of(*options: Any, unknown: bool = False) -> Rule:
    """One of ``options``: ``"a or b"`` / ``"one of a, b, c"``; ``unknown=True`` words the message as
    ``key 'x' is unknown (known: a, b)``."""
    listed = ", ".join(map(str, options))
    if unknown:
        return Rule(listed, lambda v: v in options, template="{key} {value!r} is unknown (known: {words})")
    words = f"{options[0]} or {options[1]}" if len(options) == 2 else f"one of {listed}"
    return Rule(words, lambda v: v in options)


def flag() -> Rule:
    """``true`` or ``false`` (not 0 / 1)."""
    return Rule("true or false", lambda v: isinstance(v, bool))


def text(words: str = "a string") -> Rule:
    """A non-empty string."""
    return Rule(words, lambda v: isinstance(v, str) and bool(v.strip()))


def text_list(words: str) -> Rule:
    """A non-empty list of strings."""
    return Rule(words, lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v))


def regex(groups: int, words: str) -> Rule:
    """A regular expression with at least ``groups`` groups."""
    def accepts(v: Any) -> bool:
        try:
            return isinstance(v, str) and re.compile(v).groups >= groups
        except re.error:
            return False

    return Rule(words, accepts)


def setting(default: Any = None, rule: Rule | type | None = None) -> Any:
    """A section's field: its ``default`` (a list or mapping default is copied for each config) and the
    :class:`Rule` its value must meet, or the dataclass of a nested section."""
    metadata = {"rule": rule}
    if default is None and isinstance(rule, type) and dataclasses.is_dataclass(rule):
        return dataclasses.field(default_factory=rule, metadata=metadata)  # a nested section: its defaults
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def internal(default: Any = ()) -> Any:
    """A field that is no setting of the file (say the order its keys were written in): :func:`read_section`
    neither reads nor writes it, and it takes no part in comparisons."""
    return dataclasses.field(default=default, compare=False, repr=False, metadata={"internal": True})


def _settings_of(cls: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def refuse_unknown_keys(raw: Mapping[str, Any], allowed: Sequence[str], shown: Sequence[str]) -> None:
    """Refuse top-level keys of a config file outside ``allowed``, naming them and the ``shown`` known ones.

    >>> refuse_unknown_keys({"name": "x", "seed": 1}, ("name", "seed", "run"), ("name", "seed"))
    >>> refuse_unknown_keys({"nmae": "x"}, ("name", "run"), ("name",))
    Traceback (most recent call last):
    affectlab.errors.ConfigError: unknown key(s) nmae (known: name)
    """
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(shown)})")


def read_section(raw: Mapping[str, Any], key: str, cls: type[T], *, where: str | None = None) -> T:
    """``cls`` read from the mapping under ``raw[key]`` (absent, null or empty: every default).

    Refuses a value that is not a mapping and keys ``cls`` does not declare; checks every value by its field's
    rule, in the order the fields are declared. ``where`` names the section in messages (default ``key``;
    nested sections are named ``outer.inner``).
    """
    where = where or key
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    declared = _settings_of(cls)
    names = [f.name for f in declared]
    unknown = sorted(set(value) - set(names), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(names)})")
    values: dict[str, Any] = {}
    for f in declared:
        rule = f.metadata.get("rule")
        if isinstance(rule, type) and dataclasses.is_dataclass(rule):
            values[f.name] = read_section(value, f.name, rule, where=f"{where}.{f.name}")
        elif rule is not None:
            values[f.name] = rule.check(value.get(f.name, _default(f)), f"{where}.{f.name}")
        else:
            values[f.name] = value.get(f.name, _default(f))
    return cls(**values)


def section_dict(settings: Any) -> dict[str, Any]:
    """A section read by :func:`read_section` as the mapping of its settings, in declared order (nested sections
    as mappings; lists copied)."""
    return {f.name: (section_dict(v) if dataclasses.is_dataclass(v := getattr(settings, f.name))
                     else copy.deepcopy(v))
            for f in _settings_of(settings)}


def written_order(values: Mapping[str, Any], written: Sequence[str]) -> dict[str, Any]:
    """``values`` with the keys the file wrote first, in its order, then the others (defaults), in theirs.

    >>> written_order({"a": 1, "b": 2, "c": 3}, ["c", "a"])
    {'c': 3, 'a': 1, 'b': 2}
    """
    first = [k for k in written if k in values]
    return {**{k: values[k] for k in first}, **{k: v for k, v in values.items() if k not in first}}
