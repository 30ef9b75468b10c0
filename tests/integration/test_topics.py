"""The topics the platform needs exist on the broker as CONTRACT.md names them, each with its
`.dlq` twin, in the partition count asked for and with their retention and compaction."""

import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka_admin import delete_topics, ensure_topics
from shared.topics import TopicSpec, platform_topics
from tests.support.infra import Infrastructure

CONTRACT_TOPICS = {
    "clm.customer-events.v1",
    "clm.lifecycle-changes.v1",
    "clm.customer-scores.v1",
    "clm.notifications.v1",
}


async def _describe(bootstrap: str, names: list[str]) -> tuple[dict[str, int], dict[str, dict]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        partitions = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        configs: dict[str, dict] = {}
        for response in await admin.describe_configs(resources):
            for _, _, _, name, entries in response.resources:
                configs[name] = {e[0]: e[1] for e in entries}
        return partitions, configs
    finally:
        await admin.close()


async def test_every_platform_topic_and_its_dlq_exist(infra: Infrastructure) -> None:
    specs = platform_topics()
    names = [t.name for t in specs]
    assert CONTRACT_TOPICS <= set(names)
    assert {f"{n}.dlq" for n in CONTRACT_TOPICS} <= set(names)
    partitions, configs = await _describe(infra.kafka_bootstrap, names)
    assert set(partitions) == set(names), f"missing: {set(names) - set(partitions)}"
    assert set(partitions.values()) == {12}
    assert configs["clm.customer-events.v1"]["retention.ms"] == "-1"
    assert configs["clm.customer-state.v1"]["cleanup.policy"] == "compact"


async def test_missing_topics_are_created_with_the_partitions_asked_for(
    infra: Infrastructure,
) -> None:
    run = uuid.uuid4().hex[:8]
    specs = [
        TopicSpec(f"test.topics-{run}", {"retention.ms": "60000"}),
        TopicSpec(f"test.topics-{run}.dlq", {}),
    ]
    names = [t.name for t in specs]
    try:
        assert sorted(await ensure_topics(infra.kafka_bootstrap, 3, specs)) == sorted(names)
        assert await ensure_topics(infra.kafka_bootstrap, 3, specs) == []  # a second start: no-op
        partitions, configs = await _describe(infra.kafka_bootstrap, names)
        assert partitions == {name: 3 for name in names}
        assert configs[names[0]]["retention.ms"] == "60000"
    finally:
        await delete_topics(infra.kafka_bootstrap, names)
