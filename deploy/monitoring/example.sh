#!/usr/bin/env bash
# Generates the example output in docs/monitoring.md from the release build (cargo build
# --release first; B=<dir> for binaries elsewhere): a coordinator
# in monitor mode (2 s) with metrics, and three members named rack1-a, rack1-b, rack2-a on
# loopback; configure, wait 7 s, print `stillepost status` and an excerpt of /metrics.
set -euo pipefail
B=${B:-$(dirname "$0")/../../target/release}
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$D"' EXIT
$B/stillepostd coordinator --client-bind 127.0.0.1:7400 --data-dir "$D" \
    --monitor-interval 2s --metrics-bind 9464 >"$D/c.log" 2>&1 &
names=(rack1-a rack1-b rack2-a)
for i in 1 2 3; do
  $B/stillepostd member --coord-bind 127.0.0.1:740$i --peer-bind 127.0.0.1:741$i \
      --name "${names[$((i-1))]}" >"$D/m$i.log" 2>&1 &
done
sleep 1.5
$B/stillepost --coordinator 127.0.0.1:7400 configure \
    --cluster 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403 >/dev/null
sleep 7
echo '$ stillepost status'
$B/stillepost --coordinator 127.0.0.1:7400 status
echo
PATTERN='^stillepost_(hop_latency_seconds_(count|bucket\{.*le="0\.0000(16|32|64)").*from="rack1-a"|hop_messages_(sent|lost)_total.*from="rack1-a"|member_up|tours_total)'
echo "\$ curl -s 127.0.0.1:9464/metrics | grep -E '$PATTERN'"
curl -s 127.0.0.1:9464/metrics | grep -E "$PATTERN"
