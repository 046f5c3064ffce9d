"""Read what an extraction log says about streams
(https://www.stitchdata.com/docs/developers/stitch-connect/api#get-logs-for-an-extraction-job).

Two kinds of line name a stream that had records, and different clients rely on each:
``tap - INFO replicated <N> records from "<stream>" endpoint`` and
``com.stitchdata.target-stitch-avro.flush-pipeline - send-stream-record-count-impl <stream>``.
"""

from __future__ import annotations

import re

_REPLICATED = re.compile(r'replicated (\d+) records? from "([^"]+)" endpoint')
_FLUSHED = re.compile(r"send-stream-record-count-impl\s+(\S+)")


def stream_record_counts(log_text: str) -> dict[str, int | None]:
    """Stream name -> records extracted (None when only the flush marker names it; 0 when none).

    An empty result means the log names no stream at all (unknown format, or no log), which is not
    the same as "every stream had zero records".
    """
    counts: dict[str, int | None] = {}
    for match in _REPLICATED.finditer(log_text):
        count, stream = int(match.group(1)), match.group(2)
        counts[stream] = (counts.get(stream) or 0) + count
    for match in _FLUSHED.finditer(log_text):
        counts.setdefault(match.group(1).strip("\"'"), None)
    return counts
