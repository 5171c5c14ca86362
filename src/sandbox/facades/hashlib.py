"""hashlib: digests of data the script holds (a dedup key, a checksum).

Every constructor and `update` is linear in the data and makes a digest of a fixed size, but one
call over 40 MB of held bytes runs for a tenth of a second to a second in C, unseen by the step
count: a loop of them ran 44 times past its budget between two looks at the clock. So the data is
paid for by its length before C hashes it, at the algorithm's measured rate, and the hash objects
handed out are the facade's, whose `update` and `copy` do the same. Left out: shake_128/shake_256
(their digest length is the caller's, allocated in one C call), file_digest (files), pbkdf2_hmac
and scrypt (their iterations and memory cost are arguments: seconds or gigabytes in one C call),
and `new` (it takes any name OpenSSL knows). The algorithm lists are frozen: the module's own are
sets every run would share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ..guards import plain_keywords
from ..limits import StepBudget, charge, true_length
from . import FacadeRun

# Nanoseconds a byte, measured with one update over 8 MiB: Pyodide 314 under Node 22 (its builtin
# HACL* implementations), rounded up; CPython 3.13 with OpenSSL is faster for each but md5.
_NS_PER_BYTE = {
    "md5": 9.0, "sha1": 34.0, "sha224": 6.0, "sha256": 7.0, "sha384": 9.0, "sha512": 7.0,
    "sha3_224": 13.0, "sha3_256": 16.0, "sha3_384": 22.0, "sha3_512": 22.0, "blake2b": 3.0,
    "blake2s": 5.0,
}  # fmt: skip


def _data_length(data: Any) -> int:
    """The bytes C reads from `data` (its buffer, never a subclass's __len__); 0 where C refuses it."""
    length = true_length(data)
    if length is not None or isinstance(data, str):
        return length if isinstance(data, (bytes, bytearray)) else 0
    try:
        with memoryview(data) as view:
            return view.nbytes
    except TypeError:
        return 0


class Hash:
    """A hash object of the facade's: hashlib's, with the data of every update paid for."""

    __slots__ = ("_budget", "_hash", "_rate")

    def __init__(self, budget: StepBudget, made: Any, rate: float) -> None:
        if type(budget) is not StepBudget:  # made by the constructors below only
            raise TypeError("hash objects are made with hashlib.sha256() and the like")
        self._budget, self._hash, self._rate = budget, made, rate

    @property
    def name(self) -> str:
        return self._hash.name  # type: ignore[no-any-return]

    @property
    def digest_size(self) -> int:
        return self._hash.digest_size  # type: ignore[no-any-return]

    @property
    def block_size(self) -> int:
        return self._hash.block_size  # type: ignore[no-any-return]

    def update(self, data: Any, /) -> None:
        charge(self._budget, _data_length(data) * self._rate / 1e6, f"hashlib {self.name} update")
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()  # type: ignore[no-any-return]

    def hexdigest(self) -> str:
        return self._hash.hexdigest()  # type: ignore[no-any-return]

    def copy(self) -> Hash:
        return Hash(self._budget, self._hash.copy(), self._rate)

    def __repr__(self) -> str:
        return f"<{self.name} hash object>"


def _constructor(budget: StepBudget, name: str) -> Callable[..., Hash]:
    real = getattr(hashlib, name)
    rate = _NS_PER_BYTE[name]

    def construct(*args: Any, **kwargs: Any) -> Hash:
        kwargs = plain_keywords(kwargs)  # the data is looked for by name
        data = args[0] if args else kwargs.get("data", kwargs.get("string", b""))
        charge(budget, _data_length(data) * rate / 1e6, f"hashlib.{name}")
        return Hash(budget, real(*args, **kwargs), rate)

    construct.__name__ = construct.__qualname__ = name
    construct.__doc__ = real.__doc__
    return construct


def members(run: FacadeRun) -> dict[str, object]:
    members: dict[str, object] = {name: _constructor(run.budget, name) for name in _NS_PER_BYTE}
    members["algorithms_guaranteed"] = frozenset(_NS_PER_BYTE)
    members["algorithms_available"] = frozenset(_NS_PER_BYTE)
    return members
