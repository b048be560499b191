#!/usr/bin/env bash
# Helpers for the figures of docs/production.md (run beside deploy.sh's deployment).
#   measure.sh qpm [SECONDS]   # queryPipelineRuns (and every operation) per minute, from the emulator
#   measure.sh triggers        # triggers per triggerer (from the metadata database)
#   measure.sh runs            # ADF runs created, by pipeline (from the emulator)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
EMU=http://127.0.0.1:${PROD_EMULATOR_PORT:-58090}
case "$1" in
  qpm)
    seconds=${2:-60}
    a=$(curl -s "$EMU/_emulator/stats"); sleep "$seconds"; b=$(curl -s "$EMU/_emulator/stats")
    python3 - "$seconds" "$a" "$b" <<'PY'
import json, sys
s = float(sys.argv[1]); a, b = json.loads(sys.argv[2])["requests"], json.loads(sys.argv[3])["requests"]
for op in sorted(set(a) | set(b)):
    d = b.get(op, 0) - a.get(op, 0)
    if d: print(f"{op}: {d} in {s:g} s = {d * 60 / s:.1f}/min")
PY
    ;;
  triggers)
    "$HERE/deploy.sh" psql -tA -c "SELECT coalesce(j.hostname || ' job ' || t.triggerer_id, 'unassigned'), count(*)
      FROM trigger t LEFT JOIN job j ON j.id = t.triggerer_id GROUP BY 1 ORDER BY 1" ;;
  runs) curl -s "$EMU/_emulator/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["runs_created"], d["runs_created_by_pipeline"])' ;;
esac
