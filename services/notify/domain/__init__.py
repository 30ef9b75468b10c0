"""The notify domain: playbooks, triggers and the pure decisions about each message."""

from .customers import CustomerProfile
from .decisions import (
    AddressWait,
    Decision,
    Defer,
    PlannedStep,
    Send,
    Suppress,
    decide,
    plan,
    quiet_until,
)
from .playbooks import (
    Channel,
    Playbook,
    PlaybookBook,
    PlaybookError,
    Policy,
    Step,
    TriggerKind,
    load_playbooks,
    parse_playbooks,
)
from .templates import Rendered, TemplateBook, load_templates
from .triggers import Trigger, playbooks_for

__all__ = [
    "AddressWait",
    "Channel",
    "CustomerProfile",
    "Decision",
    "Defer",
    "PlannedStep",
    "Playbook",
    "PlaybookBook",
    "PlaybookError",
    "Policy",
    "Rendered",
    "Send",
    "Step",
    "Suppress",
    "TemplateBook",
    "Trigger",
    "TriggerKind",
    "decide",
    "load_playbooks",
    "load_templates",
    "parse_playbooks",
    "plan",
    "playbooks_for",
    "quiet_until",
]
