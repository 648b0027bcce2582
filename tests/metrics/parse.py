"""Parses an OpenMetrics text exposition (stdin) with the reference parser of the
prometheus_client package, independently of the Rust code that wrote it, and prints one JSON
object per family: {"name", "type", "samples": [{"name", "labels", "value"}]}. A malformed
exposition makes the parser raise, and this script exit non-zero."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    samples = [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples]
    print(json.dumps({"name": family.name, "type": family.type, "samples": samples}))
