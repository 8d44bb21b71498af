#!/usr/bin/env python3
"""Parses a Prometheus exposition from stdin with the reference parser
(the Python prometheus_client library) and prints one JSON object per
family: its name, type and samples (name, labels, value).

  prom_families.py text          the 0.0.4 text format
  prom_families.py openmetrics   OpenMetrics 1.0

A parse error exits 1 with the parser's message: the exposition is not
what Prometheus accepts."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

fmt = sys.argv[1] if len(sys.argv) > 1 else "text"
parse = om_parse if fmt == "openmetrics" else text_parse
data = sys.stdin.read()
try:
    for family in parse(data):
        print(json.dumps({
            "name": family.name,
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for s in family.samples
            ],
        }))
except Exception as e:  # the parser's own message is the point
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)
