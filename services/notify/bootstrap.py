"""Composition root: configuration, channel adapters and use cases wired from settings."""

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters.channels import ChannelAdapter
from services.notify.adapters.sms import HttpSms
from services.notify.adapters.smtp import SmtpEmail
from services.notify.adapters.webhook import SignedWebhook
from services.notify.domain import (
    Channel,
    PlaybookBook,
    TemplateBook,
    load_playbooks,
    load_templates,
)
from services.notify.domain.unsubscribe import unsubscribe_url
from services.notify.service_layer.calendar import Calendar
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.sender import Sender, SenderConfig
from shared.kafka_consumer import BatchConsumer
from shared.service_runtime import ServiceRuntime, TopicWiring

from .adapters.erasure import erase_notify_data
from .service_layer.intake import SERVICE
from .service_layer.observations import (
    decode_customer_event,
    decode_lifecycle_change,
    decode_scores,
    decode_segment_membership,
)
from .settings import NotifySettings


@dataclass(frozen=True)
class Configuration:
    book: PlaybookBook
    templates: TemplateBook


def load_configuration(settings: NotifySettings) -> Configuration:
    """Raises PlaybookError naming the file and field when anything is wrong."""
    book = with_control_settings(load_playbooks(settings.playbooks_path), settings)
    templates = load_templates(settings.templates_path, book.policy.default_locale)
    templates.check_covers(book.templates_used())
    templates.check_steps(book)
    return Configuration(book, templates)


def with_control_settings(book: PlaybookBook, settings: NotifySettings) -> PlaybookBook:
    """The global control group and the arm salt from the environment, when set, win over
    the playbooks file's policy."""
    changes: dict[str, object] = {}
    if settings.global_control_group is not None:
        changes["global_control_group"] = settings.global_control_group
    if settings.control_salt is not None:
        changes["control_salt"] = settings.control_salt
    if not changes:
        return book
    return book.model_copy(update={"policy": book.policy.model_copy(update=changes)})


def build_channels(settings: NotifySettings) -> dict[Channel, ChannelAdapter]:
    return {
        Channel.EMAIL: SmtpEmail(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            use_tls=settings.smtp_use_tls,
            start_tls=settings.smtp_start_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
            pool_size=settings.sender_concurrency,
            unsubscribe_url=partial(
                _email_unsubscribe_url, settings.public_url, settings.unsubscribe_secret
            ),
        ),
        Channel.SMS: HttpSms(
            base_url=settings.sms_base_url,
            token=settings.sms_token,
            sender_id=settings.sms_sender_id,
            timeout=settings.http_timeout_seconds,
        ),
        Channel.WEBHOOK: SignedWebhook(
            url=settings.webhook_url,
            secret=settings.webhook_secret,
            timeout=settings.http_timeout_seconds,
        ),
    }


def _email_unsubscribe_url(public_url: str, secret: str, customer_id: str) -> str:
    return unsubscribe_url(public_url, secret, customer_id, Channel.EMAIL.value)


def build_intake(engine: AsyncEngine, config: Configuration, settings: NotifySettings) -> Intake:
    return Intake(
        engine,
        config.book,
        settings.now,
        settings.coupon_secret,
        erasure_secret=settings.erasure_secret,
        address_grace=settings.address_grace,
        transactions_per_batch=settings.transactions_per_batch,
    )


def build_consumers(
    settings: NotifySettings, runtime: ServiceRuntime, intake: Intake
) -> list[BatchConsumer[Any]]:
    """`<group>-lifecycle`, `-events`, `-state` (the erasure tombstones), and `-scores` and
    `-segments` when their playbooks are switched on."""
    wiring: list[TopicWiring] = [
        ("lifecycle", settings.lifecycle_topic, decode_lifecycle_change, intake.handle_changes),
        ("events", settings.events_topic, decode_customer_event, intake.handle_events),
    ]
    if settings.run_scores_consumer:
        wiring.append(("scores", settings.scores_topic, decode_scores, intake.handle_scores))
    if settings.run_segments_consumer:
        segments = (
            "segments",
            settings.segments_topic,
            decode_segment_membership,
            intake.handle_segments,
        )
        wiring.append(segments)
    return runtime.consumer_groups(settings, wiring, erase_notify_data, SERVICE)


def build_sender(
    engine: AsyncEngine,
    config: Configuration,
    settings: NotifySettings,
    channels: dict[Channel, ChannelAdapter],
) -> Sender:
    return Sender(
        engine,
        config.book,
        config.templates,
        channels,
        settings.now,
        SenderConfig(
            batch_size=settings.sender_batch_size,
            concurrency=settings.sender_concurrency,
            lease=timedelta(seconds=settings.sending_lease_seconds),
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            address_grace=settings.address_grace,
        ),
    )


def build_calendar(
    engine: AsyncEngine, config: Configuration, settings: NotifySettings
) -> Calendar:
    return Calendar(engine, config.book, settings.now, settings.coupon_secret)
