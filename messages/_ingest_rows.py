"""Ingest frames validated into ``SampleRows``: the gateway's hot path for samples.

``parse_ingest_frame(raw)`` accepts exactly the ingest frames that
``CLIENT_FRAME_ADAPTER`` accepts as ``IngestFrame`` (its schema is built from
``IngestFrame``'s own field schemas, with ``type`` required as the union requires it),
and gives their samples as plain dicts (see ``messages._samples``: a model per
sample was three objects for the cyclic garbage collector, a row is one).  Anything
else, including an invalid ingest frame, gives None: validate it with
``CLIENT_FRAME_ADAPTER``, which says what is wrong in the usual words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from messages._protocol import IngestFrame
from messages._samples import SampleRows, plain_dict_schema, rows_schema

__all__ = ["IngestRows", "parse_ingest_frame"]

_INGEST = SchemaValidator(
    plain_dict_schema(
        IngestFrame,
        type=cs.literal_schema(["ingest"]),
        samples=rows_schema(IngestFrame),
    )
)
_MARK = '"ingest"'


@dataclass(frozen=True, slots=True)
class IngestRows:
    """A valid ``IngestFrame`` whose samples are ``SampleRows``."""

    id: str
    samples: SampleRows
    type: Literal["ingest"] = "ingest"


def parse_ingest_frame(raw: str) -> IngestRows | None:
    """Return the ingest frame ``raw`` as ``IngestRows``, or None if it is not a valid one.

    Only text that contains ``"ingest"`` is tried (a frame that spells its type with
    escapes is left to ``CLIENT_FRAME_ADAPTER``, which accepts it as an ``IngestFrame``).
    """
    if _MARK not in raw:
        return None
    try:
        frame: Any = _INGEST.validate_json(raw)
    except ValidationError:
        return None
    return IngestRows(frame["id"], SampleRows(frame["samples"]))
