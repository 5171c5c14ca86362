"""base64: the encodings of RFC 4648, Ascii85 and Base85.

Every function is linear, and its result at most about twice its input (base16; line breaks of
encodebytes and of a85encode's `wrapcol` add one byte per line). Left out: encode/decode (file
objects) and the module's imports (binascii, struct, re).
"""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    names = (
        "b64encode b64decode standard_b64encode standard_b64decode urlsafe_b64encode urlsafe_b64decode "
        "b32encode b32decode b32hexencode b32hexdecode b16encode b16decode a85encode a85decode "
        "b85encode b85decode encodebytes decodebytes"
    )
    members = pick("base64", names)
    import binascii

    members["Error"] = binascii.Error
    return members
