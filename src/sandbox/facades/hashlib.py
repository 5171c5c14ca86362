"""hashlib: digests of data the script holds (a dedup key, a checksum).

Every constructor and method is linear in the data and makes a digest of a fixed size. Left out:
shake_128/shake_256 (their digest length is the caller's, allocated in one C call), file_digest
(files), pbkdf2_hmac and scrypt (their iterations and memory cost are arguments: seconds or
gigabytes in one C call), and `new` (it takes any name OpenSSL knows). The algorithm lists are
frozen: the module's own are sets every run would share.
"""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True

_ALGORITHMS = "md5 sha1 sha224 sha256 sha384 sha512 sha3_224 sha3_256 sha3_384 sha3_512 blake2b blake2s"


def members(run: FacadeRun) -> dict[str, object]:
    members = pick("hashlib", _ALGORITHMS)
    members["algorithms_guaranteed"] = frozenset(_ALGORITHMS.split())
    members["algorithms_available"] = frozenset(_ALGORITHMS.split())
    return members
