"""Members of the objects LiteLLM hands over, read one way: a mapping's keys or an object's
(often a pydantic model's) attributes. LiteLLM hands both for the same thing, from release to
release and from provider to provider.

A dict is known by its type before the Mapping check: `isinstance(x, Mapping)` is a
Python-level call of ABCMeta.__instancecheck__, and these run on every call.
"""

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard


def is_mapping(value: object) -> TypeGuard[Mapping]:
    return type(value) is dict or isinstance(value, Mapping)


def mapping_or_empty(value: object) -> Mapping:
    """`value` if it is a mapping, else an empty one."""
    return value if type(value) is dict or isinstance(value, Mapping) else _NO_VALUES


def reader(container: object) -> Callable[[str, Any], Any]:
    """`read(name, default)` over a mapping's keys or an object's attributes: LiteLLM hands
    both. One lookup of the kind per container, then builtin calls only (a hot path)."""
    return (
        container.get
        if type(container) is dict or isinstance(container, Mapping)
        else functools.partial(getattr, container)
    )


def read_member(source: object, name: str) -> Any:
    """`reader(source)(name, None)` for a public member that is often absent, without what a
    miss costs on a pydantic model: its `__getattr__` raises an AttributeError built in Python
    (benchmarks/README.md), and LiteLLM deletes its models' unset optional fields
    (a message's `reasoning_content`, say). A model's fields are in its `__dict__`, the members
    it was given beyond them in `__pydantic_extra__`; anything its class defines is read as
    usual. It is also the cheap read of a member kept as an extra (in LiteLLM 1.110 a response's
    usage, a streamed choice's and a delta's members): a getattr of one fails the normal lookup
    first, then runs pydantic's `__getattr__` in Python, several times this read's cost."""
    extra = getattr(source, "__pydantic_extra__", _NOT_A_MODEL)  # first: it is read per chunk
    if extra is _NOT_A_MODEL:
        return source.get(name) if type(source) is dict or isinstance(source, Mapping) else getattr(source, name, None)
    defined = _defined_by_class.get((type(source), name))  # in line: read per chunk
    if defined is None:
        defined = _class_defines(type(source), name)
    if defined:
        return getattr(source, name, None)
    value = getattr(source, "__dict__", _NO_VALUES).get(name, _ABSENT)
    if value is _ABSENT:
        value = extra.get(name) if type(extra) is dict else None  # a dict, or None
    return value


_NOT_A_MODEL = _ABSENT = object()
_NO_VALUES: dict = {}
_CLASS_MEMBERS_KEPT = 1024
_defined_by_class: dict[tuple[type, str], bool] = {}  # (class, name) -> whether the class or a base defines name


def _class_defines(cls, name):
    """Whether `cls` or a base defines `name`, kept in `_defined_by_class` (read there first)."""
    defined = any(name in vars(base) for base in cls.__mro__)
    if len(_defined_by_class) < _CLASS_MEMBERS_KEPT:
        _defined_by_class[(cls, name)] = defined
    return defined
