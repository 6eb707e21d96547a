"""Matcher settings: the consumer group follows the topic prefix."""

from __future__ import annotations

from services.matcher.settings import MatcherSettings
from shared.settings import KafkaSettings


def test_the_consumer_group_belongs_to_the_topic_prefix() -> None:
    settings = MatcherSettings(kafka=KafkaSettings(TOPIC_PREFIX="staging."), app_id="matcher")

    assert settings.consumer_group == "staging.matcher"
