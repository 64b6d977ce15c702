"""Locks that a forked child gets fresh.

A pre-forking server (gunicorn, uvicorn's workers, multiprocessing) may fork while another
thread of the parent holds one of ddllm's locks; that thread does not exist in the child,
so the child would wait on the lock forever. Every lock ddllm keeps is named here, and the
child gets a new one in its place right after the fork.
"""

import os
import threading
import weakref
from collections.abc import Callable

# holder (a module or an object) -> {attribute: factory}
_renewed: weakref.WeakKeyDictionary[object, dict[str, Callable[[], object]]] = weakref.WeakKeyDictionary()


def renew_after_fork(holder: object, attribute: str, factory: Callable[[], object] = threading.Lock) -> None:
    """In a forked child, `holder.<attribute>` (a lock) is replaced by `factory()`."""
    _renewed.setdefault(holder, {})[attribute] = factory


def _renew_every_lock():
    for holder, attributes in list(_renewed.items()):
        for attribute, factory in attributes.items():
            setattr(holder, attribute, factory())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_every_lock)
