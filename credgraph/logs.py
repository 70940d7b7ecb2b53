"""Structured logs (SPEC §10): one JSON object a line on stderr — `time` (UTC, ISO 8601),
`level`, `logger`, `message` and, for an error with a traceback, `exception` — with anything
shaped like an ID number masked in the message and the traceback (SPEC §6), whoever logged it.
`credgraph serve` hands `LOG_CONFIG` to uvicorn, so its own lines, credgraph's and the Neo4j
driver's warnings come out alike."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from credgraph.schema.privacy import scrub


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
                               .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "loggers": {
        # uvicorn's own loggers keep their filters (the access log's ID scrubber)
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # the driver's retries and httpx's line per partner request: warnings only
        "neo4j": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
