"""What every consumed message about one customer carries, whatever its topic."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CustomerOccurrence:
    event_id: str  # the CloudEvent id
    type: str  # the CloudEvent type
    customer_id: str
    occurred_at: datetime  # data.occurred_at, else the CloudEvent time
