"""Control groups: which customers a playbook holds out, decided by a stable hash.

The arm is a pure function of (customer, playbook, salt): the same customer lands in the same
arm on every replay and every instance, with no state to share. A customer in the global
control group is held out of every playbook (the hash of the customer with GLOBAL instead of
a playbook name).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

GLOBAL = "*global*"  # never a playbook name (names match ^[a-z0-9_]+$)
CONTROL_GROUP = "control_group"  # the suppression reason of a held-out decision


class Arm(StrEnum):
    TREATMENT = "treatment"
    CONTROL = "control"


def bucket(customer_id: str, scope: str, salt: str) -> float:
    """A uniform number in [0, 1) from the first 8 bytes of SHA-256(salt, scope, customer)."""
    digest = hashlib.sha256(f"{salt}\x1f{scope}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(
    customer_id: str, playbook: str, fraction: float, global_fraction: float, salt: str
) -> Arm:
    """Control when the customer falls in the global control group or the playbook's."""
    if global_fraction > 0 and bucket(customer_id, GLOBAL, salt) < global_fraction:
        return Arm.CONTROL
    if fraction > 0 and bucket(customer_id, playbook, salt) < fraction:
        return Arm.CONTROL
    return Arm.TREATMENT
