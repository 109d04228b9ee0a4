"""What the echo network's modules share: failures told to the user, host
calls whose refusals become them, the registration's values, counters."""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports import session
from wit_world.imports.types import LogLevel


class Refused(Exception):
    """A failure told to the user (it becomes the export's `Err`)."""


def reason(error) -> str:
    """The text of a host `error` variant (`Err(Error_Invalid("…"))`…)."""
    value = getattr(error, "value", error)
    return str(getattr(value, "value", value))


def host(call, *args):
    """Calls a host import whose result is `result<_, error>`; a refusal
    becomes `Refused` with the host's reason."""
    try:
        return call(*args)
    except Err as e:
        raise Refused(reason(e)) from None


def registration_value(var: str) -> Optional[str]:
    for key, value in session.registration():
        if key == var:
            return value
    return None


def next_counter(key: str, n: int = 1) -> int:
    """Bumps a counter of the key-value store by `n`; returns its first new
    value. Counters live there so that legacy ids never repeat, even across
    restarts and reloads."""
    raw = session.kv_get(key)
    try:
        current = int(raw.decode()) if raw is not None else 0
    except ValueError:
        current = 0
    try:
        session.kv_set(key, str(current + n).encode())
    except Err as e:
        session.log(LogLevel.ERROR, f"cannot save counter {key}: {reason(e)}")
    return current + 1
