"""Reads the admitted visitors waitroom forwarded to Kafka, one JSON line per message.

    python3 -m pip install kafka-python==3.0.12 lz4==4.4.5
    python3 examples/read-admitted.py kafka-1:9092 waitroom.admitted

Each line is the message's value (`id`, `event`, `lane` for a lane's visitor, `visitor`, `position`,
`joined_at`, `admitted_at`) with its key and headers added. It reads from the topic's beginning and
stops once nothing new came for five seconds (`--follow` keeps reading). Deliveries are at least once:
de-duplicate on `id`.
"""

import argparse
import json

from kafka import KafkaConsumer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("brokers", help="bootstrap servers, e.g. kafka-1:9092,kafka-2:9092")
    parser.add_argument("topic", help="kafka_topic, or <kafka_topic>.<event> with kafka_topic_per_event")
    parser.add_argument("--follow", action="store_true", help="keep reading new messages")
    args = parser.parse_args()
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.brokers.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=None if args.follow else 5000,
    )
    for message in consumer:
        line = json.loads(message.value)
        line["key"] = message.key.decode() if message.key else None
        line["headers"] = {name: value.decode() for name, value in message.headers}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
