"""The one hash of a per-island registration token.

Pure. A launch (service) stores ``hash_token(token)`` and gives the token itself to the pod; a
registration (store) hashes the token the pod presents and compares. Both sides must hash alike,
so there is one function. Making a token needs ``secrets`` and so lives at the edge
(``island_ssh.store.new_token``).
"""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    """The sha256 hex digest of the token's UTF-8 bytes.

    ``surrogatepass``: a token arriving as JSON may hold a lone surrogate (``"\\ud800"``); it must
    hash (to something that matches no stored hash) rather than raise UnicodeEncodeError.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
