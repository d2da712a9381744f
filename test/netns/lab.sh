#!/usr/bin/env bash
# The cluster lab: three homes, each a LAN host behind its own NAT router running miniupnpd
# (NAT-PMP + UPnP IGD), on a fake internet with a STUN server. Built from the lessons of
# the namespace lab we were handed with the project (iptables-legacy for miniupnpd, ext_perform_stun against our own RFC 5780 STUN
# server, MASQUERADE, daemons started with `ip netns exec NS CMD &` and stopped by PID).
#
#   kl-h<i> 10.77.<i>.10 --- bridge "lan" 10.77.<i>.1 in kl-r<i> 203.0.113.1<i> --- bridge in kl-wan (203.0.113.1, .3: stund)
#   kl-v    10.77.<i>.20 --- (a visiting laptop, plugged into one home's LAN bridge at a time)
#
# Nothing links to the host's own network: every address exists only inside these namespaces.
# Usage (root): lab.sh up | down | move <i> <new-last-octet> | link <i> up|down | loss <percent> |
#               visit <i> | run <ns> CMD...
set -euo pipefail

HOMES=${KITH_LAB_HOMES:-3}
STATE=${KITH_LAB_STATE:-/run/kith-lab}
IPT=iptables-legacy
WAN=kl-wan

log() { printf '[kith-lab] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "missing $1 (apt-get install $2)"; exit 3; }; }

start_bg() { # name ns cmd...
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

stop_pid() {
  local f=$STATE/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  if [ -d "$STATE" ]; then
    for f in "$STATE"/*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^kl-(wan|r[0-9]+|h[0-9]+|v)$' || true); do
    # processes we did not start are killed only if they live in our namespaces
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$STATE"
}

up() {
  need ip iproute2; need $IPT iptables; need miniupnpd "miniupnpd miniupnpd-iptables"; need stund stun-server
  down
  mkdir -p "$STATE/bin"
  ln -sf "$(command -v $IPT)" "$STATE/bin/iptables"

  ip netns add $WAN
  ip -n $WAN link set lo up
  ip -n $WAN link add br0 type bridge
  ip -n $WAN addr add 203.0.113.1/24 dev br0
  ip -n $WAN addr add 203.0.113.3/24 dev br0
  ip -n $WAN link set br0 up
  start_bg stun $WAN stund -v -h 203.0.113.1 -a 203.0.113.3

  for i in $(seq 1 "$HOMES"); do
    local r=kl-r$i h=kl-h$i
    ip netns add "$r"; ip netns add "$h"
    ip -n "$r" link set lo up; ip -n "$h" link set lo up
    ip link add wan netns "$r" type veth peer name r$i netns $WAN
    # The LAN is a bridge (named "lan", miniupnpd's listening interface), so a visitor can join it.
    ip -n "$r" link add lan type bridge mcast_snooping 0
    ip link add lanh netns "$r" type veth peer name eth0 netns "$h"
    ip -n "$r" link set lanh master lan
    ip -n "$r" link set lanh up
    ip -n $WAN link set r$i master br0
    ip -n $WAN link set r$i up
    ip -n "$r" addr add 203.0.113.1$i/24 dev wan
    ip -n "$r" addr add 10.77.$i.1/24 dev lan
    ip -n "$r" link set wan up; ip -n "$r" link set lan up
    ip -n "$r" route add default via 203.0.113.1 dev wan
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$r" $IPT -w -t nat -A POSTROUTING -o wan -j MASQUERADE
    # An ISP delivers a router only what is addressed to it. The lab's internet is one LAN, where
    # peers' ARP caches still point at a renumbered router for its old address: without this, a
    # window mapping (miniupnpd's DNAT matches the port on any destination) would take packets
    # sent to the old address, and the pair would carry on through an address that is gone.
    ip netns exec "$r" $IPT -w -t mangle -A PREROUTING -i wan -m addrtype ! --dst-type LOCAL -j DROP
    # A home router answers nothing on its outside: no ICMP port-unreachable for a port scan.
    ip netns exec "$r" $IPT -w -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    # (miniupnpd's own STUN test needs answers from the server's other address and port)
    ip netns exec "$r" $IPT -w -A INPUT -i wan -p udp -s 203.0.113.1 -j ACCEPT
    ip netns exec "$r" $IPT -w -A INPUT -i wan -p udp -s 203.0.113.3 -j ACCEPT
    ip netns exec "$r" $IPT -w -A INPUT -i wan -j DROP
    ip netns exec "$r" $IPT -w -A OUTPUT -o wan -p icmp --icmp-type port-unreachable -j DROP
    ip netns exec "$r" env PATH="$STATE/bin:$PATH" sh /etc/miniupnpd/iptables_init.sh -i wan >"$STATE/iptables-$i.log" 2>&1
    ip -n "$h" addr add 10.77.$i.10/24 dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" route add default via 10.77.$i.1
    cat >"$STATE/miniupnpd-$i.conf" <<EOF
ext_ifname=wan
listening_ip=lan
port=5000
enable_natpmp=yes
enable_upnp=yes
ext_perform_stun=yes
ext_stun_host=203.0.113.1
ext_stun_port=3478
secure_mode=yes
system_uptime=yes
clean_ruleset_interval=600
uuid=$(cat /proc/sys/kernel/random/uuid)
allow 1024-65535 10.77.$i.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  done
  # stund must answer before miniupnpd asks it (it decides at start whether it may forward)
  for _ in $(seq 1 50); do ip netns exec $WAN ss -uln | grep -q '203.0.113.1:3478' && break; sleep 0.1; done
  for i in $(seq 1 "$HOMES"); do
    start_bg miniupnpd-$i kl-r$i miniupnpd -d -f "$STATE/miniupnpd-$i.conf" -P "$STATE/miniupnpd-$i.pidfile"
  done
  for i in $(seq 1 "$HOMES"); do
    # miniupnpd runs its STUN test (several 3 s waits) before it listens
    for _ in $(seq 1 300); do ip netns exec kl-r$i ss -uln | grep -q ':5351' && break; sleep 0.1; done
    ip netns exec kl-r$i ss -uln | grep -q ':5351' || { log "miniupnpd $i is not listening:"; cat "$STATE/miniupnpd-$i.log" >&2; exit 1; }
  done
  log "lab up: $HOMES homes"
}

# move <home> <octet>: the router of a home gets a new public address 203.0.113.<octet>
# (what an ISP does); MASQUERADE forgets its mappings when the old address goes away.
move() {
  local i=$1 oct=$2 r=kl-r$1
  local old
  old=$(ip -n "$r" -4 -o addr show dev wan | awk '{print $4}')
  # old address first: deleting a primary address also deletes the secondaries of its subnet
  ip -n "$r" addr del "$old" dev wan
  ip -n "$r" addr add 203.0.113.$oct/24 dev wan
  ip -n "$r" route replace default via 203.0.113.1 dev wan
  # A renumbered router starts its port mapper afresh (miniupnpd's rules would otherwise keep
  # SNATing mapped ports to the old address).
  restart_mapper "$i"
  # The old address is gone: so are the flows through it (an ISP's renumbering ends them all;
  # MASQUERADE forgets its own, but flows DNATed or SNATed by a window mapping would otherwise live
  # on and keep sending from the old address). Only after the old mapper's rules are gone: a flow
  # that starts while they are still there (the old miniupnpd, which knew the old address, can
  # grant a mapping between the renumbering and its stop) would keep the old address for as long
  # as it carries traffic, and peers would keep reaching the node through stale ARP entries.
  ip netns exec "$r" conntrack -F >/dev/null 2>&1 || log "conntrack missing: stale flows survive the move (apt-get install conntrack)"
}

# Stops miniupnpd, empties its chains, starts it again.
restart_mapper() {
  local i=$1 r=kl-r$1
  stop_pid miniupnpd-$i
  for t in nat filter; do ip netns exec "$r" $IPT -w -t $t -F MINIUPNPD 2>/dev/null || true; done
  ip netns exec "$r" $IPT -w -t nat -F MINIUPNPD-POSTROUTING 2>/dev/null || true
  start_bg miniupnpd-$i "$r" miniupnpd -d -f "$STATE/miniupnpd-$i.conf" -P "$STATE/miniupnpd-$i.pidfile"
}

# Takes router N's internet link down or up. Like a home router's hotplug script, bringing it up
# restarts the port mapper: miniupnpd started (or renumbered) while its link was down fails its
# STUN check and refuses every mapping (501) until restarted.
link() {
  local i=$1 state=$2
  ip -n kl-r$i link set wan "$state"
  if [ "$state" = up ]; then restart_mapper "$i"; fi
}

# visit <home>: the laptop namespace kl-v plugs into that home's LAN as 10.77.<home>.20, unplugging
# from wherever it was (its processes keep running: a laptop carried to another home).
visit() {
  local i=$1 r=kl-r$1
  ip netns list | grep -qw kl-v || { ip netns add kl-v; ip -n kl-v link set lo up; }
  ip -n kl-v link del eth0 2>/dev/null || true
  ip link add v netns "$r" type veth peer name eth0 netns kl-v
  ip -n "$r" link set v master lan
  ip -n "$r" link set v up
  ip -n kl-v addr add 10.77.$i.20/24 dev eth0
  ip -n kl-v link set eth0 up
  ip -n kl-v route add default via 10.77.$i.1
}

# loss <percent>: every router drops that share of what it forwards (both directions). The
# kernels here lack sch_netem, so iptables' statistic match stands in for `tc netem loss`.
loss() {
  local p=$1
  for i in $(seq 1 "$HOMES"); do
    ip netns exec kl-r$i $IPT -w -F KITH-LOSS 2>/dev/null || ip netns exec kl-r$i $IPT -w -N KITH-LOSS
    ip netns exec kl-r$i $IPT -w -C FORWARD -j KITH-LOSS 2>/dev/null || ip netns exec kl-r$i $IPT -w -I FORWARD 1 -j KITH-LOSS
    if [ "$p" != 0 ]; then
      ip netns exec kl-r$i $IPT -w -A KITH-LOSS -m statistic --mode random --probability "$(awk "BEGIN{print $p/100}")" -j DROP
    fi
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  move) move "$2" "$3" ;;
  link) link "$2" "$3" ;;
  loss) loss "$2" ;;
  visit) visit "$2" ;;
  run) shift; ns=$1; shift; exec ip netns exec "$ns" "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
