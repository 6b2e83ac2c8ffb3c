"""Local real infrastructure for development and tests: embedded PostgreSQL and the
Tansu Kafka-protocol broker, each a child process on a free loopback port."""

from shared.devstack.kafka import LocalKafka
from shared.devstack.ports import free_port
from shared.devstack.postgres import LocalPostgres

__all__ = ["LocalKafka", "LocalPostgres", "free_port"]
