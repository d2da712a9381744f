#!/usr/bin/env bash
# Bulk transfer goodput of kith's reliable delivery through a shaped link between two network
# namespaces this script makes: 20 Mbit/s each way, 40 ms RTT, 1% loss on the data direction.
# Prints the goodput as a fraction of the link rate (the baseline). DESIGN target: >= 80%.
# With tc netem (sch_netem) the link is netem's. This machine's kernel has no sch_netem
# ("Specified qdisc kind is unknown"), so then: rate by tbf, loss by iptables' statistic match,
# and the 20 ms each way by a userspace UDP relay in the receiver's namespace.
# Needs root, iproute2, iptables (for the fallback) and `npm install` (for dist/).
#   bash bench/netem-bulk.sh [BYTES] [RUNS]      (node; RUNTIME=bun for Bun)
# Traffic stays between 10.88.0.1 and 10.88.0.2 inside the namespaces; everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-8000000}
RUNS=${2:-3}
RUNTIME=${RUNTIME:-node}
A=kithb-a-$$
B=kithb-b-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
if ! ip netns add "$A" 2>/dev/null; then echo "skip: cannot create network namespaces here (need root and iproute2)"; exit 0; fi
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.88.0.1/24 dev va
ip -n "$B" addr add 10.88.0.2/24 dev vb
ip -n "$A" link set va up; ip -n "$A" link set lo up
ip -n "$B" link set vb up; ip -n "$B" link set lo up
# netem's limit is in packets: 300 × 1.2 kB = 360 kB of queue, above the 100 kB bandwidth-delay product.
TARGET_PORT=5484
RELAY=0
if ip netns exec "$A" tc qdisc add dev va root netem delay 20ms rate 20mbit loss 1% limit 300 2>/dev/null; then
  ip netns exec "$B" tc qdisc add dev vb root netem delay 20ms rate 20mbit limit 300
  SHAPING="tc netem"
else
  command -v iptables >/dev/null || { echo "skip: no sch_netem and no iptables for the fallback"; exit 0; }
  ip netns exec "$A" tc qdisc add dev va root tbf rate 20mbit burst 32kbit limit 360kb
  ip netns exec "$B" tc qdisc add dev vb root tbf rate 20mbit burst 32kbit limit 360kb
  ip netns exec "$A" iptables -A OUTPUT -o va -p udp -m statistic --mode random --probability 0.01 -j DROP
  RELAY=1
  SHAPING="tbf + iptables statistic + 20 ms relay (no sch_netem in this kernel)"
fi

if [ "$RUNTIME" = bun ]; then RUN=(node_modules/.bin/bun bench/netem-peer.ts); else RUN=(node dist/bench/netem-peer.js); fi
results=()
for i in $(seq 1 "$RUNS"); do
  out=$(mktemp)
  if [ "$RELAY" = 1 ]; then
    ip netns exec "$B" "${RUN[@]}" recv 127.0.0.1 5485 > "$out" &
    RECV=$!
    PIDS+=($RECV)
    rout=$(mktemp)
    ip netns exec "$B" "${RUN[@]}" relay 10.88.0.2 5484 127.0.0.1 5485 20 > "$rout" &
    RPID=$!
    PIDS+=($RPID)
    for _ in $(seq 1 100); do grep -q READY "$rout" && break; sleep 0.1; done
  else
    ip netns exec "$B" "${RUN[@]}" recv 10.88.0.2 5484 > "$out" &
    RECV=$!
    PIDS+=($RECV)
  fi
  for _ in $(seq 1 100); do grep -q READY "$out" && break; sleep 0.1; done
  line=$(timeout 150 ip netns exec "$A" "${RUN[@]}" send 10.88.0.1 5484 10.88.0.2 5484 "$BYTES" | grep GOODPUT || true)
  [ "$RELAY" = 1 ] && { kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; rm -f "$rout"; }
  kill "$RECV" 2>/dev/null || true
  wait "$RECV" 2>/dev/null || true
  rm -f "$out"
  echo "run $i: ${line:-failed}"
  [ -n "$line" ] && results+=("$(echo "$line" | awk '{print $2}')")
done
[ ${#results[@]} -gt 0 ] || { echo "no run finished"; exit 1; }
median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "bulk transfer through a shaped link ($SHAPING; $RUNTIME): $BYTES bytes, 20 Mbit/s, 40 ms RTT, 1% loss; median of ${#results[@]}"
echo "| goodput | link rate (baseline) | fraction | target >= 80% |"
echo "|---|---|---|---|"
awk -v g="$median" 'BEGIN { f = g / 20 * 100; printf "| %.2f Mbit/s | 20.00 Mbit/s | %.1f%% | %s |\n", g, f, (f >= 80 ? "yes" : "NO") }'
