"""What an asker gets when the handler it asked raised: the exception as itself.

`failed(cause, text)` gives an exception that is at once an `ActorFailed` (the actor failed
on this request and restarts if supervised) and an instance of the handler's exception class,
with the handler's exception as its `__cause__`: `except ValueError` and `except ActorFailed`
both catch it, and its traceback shows the handler's. Attributes the handler's exception has
(`e.errno`, fields of your own exception classes) read through to it.

The class is made once per exception class (`ActorFailed(ValueError)`); an exception class
that cannot be combined with `ActorFailed` (a layout of its own that conflicts, a `__new__`
that needs arguments) gives a plain `ActorFailed` with the same `__cause__`, and so does a
`BaseException` that is not an `Exception` (`SystemExit`, `GeneratorExit`, one of your own):
a handler's `sys.exit()` fails the actor, not the program that asked it. The one exception
given back as it is: a `KeyboardInterrupt` while the handler ran on the asker's own thread,
which is the user's Ctrl-C.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from . import _native

#: The logger a handler's failure is reported on (with its traceback): an actor's failure
#: is never silent, whether or not an asker is waiting for the answer.
LOGGER = logging.getLogger("mycelium.actor")

#: The logger a supervision tree that gives up is reported on: its children are stopped (and
#: a root tree fails the bus) at that moment, not when a program next reaches them.
SUPERVISOR_LOGGER = logging.getLogger("mycelium.supervisor")

_classes: dict[type, type[BaseException] | None] = {}


def log_gave_up(text: str) -> None:
    """Reports a supervision tree that gave up on its children (`text` says why)."""
    SUPERVISOR_LOGGER.error(text)


def _failed_class(cause_type: type) -> type[BaseException] | None:
    if cause_type in _classes:
        return _classes[cause_type]

    def __str__(self: BaseException) -> str:
        return str(self.args[0]) if self.args else ""

    def __getattr__(self: BaseException, name: str) -> Any:
        cause = self.__cause__
        if cause is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(cause, name)

    def __reduce__(self: BaseException) -> Any:
        # The combined class exists only in this process: it pickles as a plain ActorFailed.
        return (_native.ActorFailed, self.args)

    made: Any
    try:
        made = type(
            f"ActorFailed({cause_type.__name__})",
            (cause_type, _native.ActorFailed),
            {
                "__module__": "mycelium",
                "__str__": __str__,
                "__getattr__": __getattr__,
                "__reduce__": __reduce__,
            },
        )
        made.__new__(made)  # a class whose `__new__` needs arguments cannot be made here
    except Exception:
        made = None
    result: type[BaseException] | None = made
    _classes[cause_type] = result
    return result


def failed(cause: BaseException, text: str, here: bool = False) -> BaseException:
    """The exception for an asker whose handler raised `cause` (on the asker's thread when
    `here`); `text` says what failed."""
    if here and isinstance(cause, KeyboardInterrupt):
        return cause
    cls: Any = _failed_class(type(cause)) if isinstance(cause, Exception) else None
    error: BaseException
    if cls is None:
        error = _native.ActorFailed(text)
    else:
        error = cls.__new__(cls)
        error.args = (text,)
    error.__cause__ = cause
    return error


def log(cause: BaseException, actor: str, message: str) -> None:
    """Logs the failure of `actor`'s handler of `message` on `mycelium.actor`, with its
    traceback."""
    LOGGER.error(
        "%s failed handling %s: %s",
        actor,
        message,
        traceback.format_exception_only(cause)[-1].strip(),
        exc_info=(type(cause), cause, cause.__traceback__),
    )


def log_hook(cause: BaseException, actor: str, hook: str, outcome: str) -> None:
    """Logs the exception of `actor`'s `hook` (`on_start`, `on_stop`) on `mycelium.actor`,
    with its traceback and what came of it."""
    LOGGER.error(
        "%s.%s raised (%s): %s",
        actor,
        hook,
        outcome,
        traceback.format_exception_only(cause)[-1].strip(),
        exc_info=(type(cause), cause, cause.__traceback__),
    )


def detach(cause: BaseException) -> BaseException:
    """`cause` kept for an asker on another thread: its traceback as text in a note (the
    frames, and the actor they hold, are let go)."""
    tb = cause.__traceback__
    if tb is not None:
        text = "".join(traceback.format_tb(tb))
        cause.add_note("Traceback of the handler (most recent call last):\n" + text.rstrip())
        cause.__traceback__ = None
    return cause
