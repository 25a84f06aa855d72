#!/usr/bin/env bash
# compose-test: `make compose-test`. Runs deploy/docker-compose.yml (three
# caskade nodes speaking mutual TLS, from the FROM scratch image that
# `make image` builds) and checks, with the caskade client on the host
# against the published ports:
#
#   1. every node answers /readyz (it knows a leader) and they agree on one;
#   2. keys written through one follower read back through the other;
#   3. while a writer keeps writing through a follower, the leader's
#      container is killed (SIGKILL); the two left elect a new leader
#      and take writes again;
#   4. every acknowledged write is on both survivors, and on the killed
#      node once it is started again and has caught up.
#
# It skips (exit 0, saying why) without Docker, without a reachable
# daemon, or without docker compose / docker-compose. Every wait is
# bounded; the cluster and its volumes are removed on every exit. Not part
# of `make test`. Environment: IMAGE (default caskade:dev), WRITES (keys
# of step 2, default 50), MAKE (default make), CASKADE_NET (A.B.C of the
# cluster's /24; default: the first free one of 172.29.70-99).
set -euo pipefail
export LC_ALL=C # sort and comm agree on the order

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
image=${IMAGE:-caskade:dev}
writes=${WRITES:-50}
make_cmd=${MAKE:-make}

log() { printf 'compose-test: %s\n' "$*"; }
skip() {
	log "SKIP: $*"
	exit 0
}
fail() {
	log "FAIL: $*"
	exit 1
}

# --- What this machine has -------------------------------------------------

command -v docker >/dev/null 2>&1 || skip "docker is not installed"
timeout 30 docker info >/dev/null 2>&1 || skip "the Docker daemon is not reachable (docker info failed)"
if timeout 30 docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && timeout 30 docker-compose version >/dev/null 2>&1; then
	compose=(docker-compose)
else
	skip "neither 'docker compose' nor 'docker-compose' is installed"
fi
log "using ${compose[*]} ($(timeout 30 "${compose[@]}" version --short 2>/dev/null || echo '?')), image $image"

# --- Down on every exit -----------------------------------------------------

project=caskade-compose-test-$$
work=$(mktemp -d "${TMPDIR:-/tmp}/caskade-compose-test.XXXXXX")
dc() { timeout 180 "${compose[@]}" -p "$project" -f "$here/docker-compose.yml" "$@"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n ${writer_pid:-} ]]; then
		rm -f "$work/writing"
		wait "$writer_pid" 2>/dev/null || true
	fi
	if ((rc != 0)); then
		log "logs of the nodes (last 30 lines each):"
		dc logs --no-color --tail 30 node1 node2 node3 2>&1 | sed 's/^/  /' || true
	fi
	log "tearing down $project"
	dc down -v --remove-orphans -t 5 >/dev/null 2>&1 || log "warning: '${compose[*]} down' failed; remove the containers of project $project by hand"
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ip_int A.B.C.D: the address as an integer.
ip_int() {
	local IFS=.
	# shellcheck disable=SC2086 # split on the dots
	set -- $1
	echo $(((($1 * 256 + $2) * 256 + $3) * 256 + $4))
}

# free_net: the first A.B.C of the candidates whose /24 overlaps no IPv4
# subnet of an existing Docker network (the cluster's network has fixed
# addresses; see docker-compose.yml).
free_net() {
	local used cand c lo hi s base len start end
	used=$(docker network ls -q | xargs -r timeout 30 docker network inspect \
		--format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+/[0-9]+$' || true)
	for cand in 172.29.{70..99} 192.168.{213..230}; do
		lo=$(ip_int "$cand.0") hi=$(($(ip_int "$cand.0") + 256))
		c=ok
		for s in $used; do
			base=${s%/*} len=${s#*/}
			start=$(ip_int "$base")
			start=$((start - start % (1 << (32 - len)))) end=$((start + (1 << (32 - len))))
			if ((start < hi && lo < end)); then
				c=""
				break
			fi
		done
		if [[ -n $c ]]; then
			printf '%s\n' "$cand"
			return 0
		fi
	done
	return 1
}

export CASKADE_IMAGE=$image
if [[ -z ${CASKADE_NET:-} ]]; then
	CASKADE_NET=$(free_net) || fail "no free /24 for the cluster's network among 172.29.70-99.0 and 192.168.213-230.0; set CASKADE_NET=A.B.C"
fi
export CASKADE_NET
# Ephemeral host ports: never collide with another cluster on this host.
unset CASKADE_NODE1_PORT CASKADE_NODE2_PORT CASKADE_NODE3_PORT
unset CASKADE_NODE1_METRICS_PORT CASKADE_NODE2_METRICS_PORT CASKADE_NODE3_METRICS_PORT

# --- Build, and up ---------------------------------------------------------

log "building $image (make image)"
timeout 900 "$make_cmd" -s -C "$root" image IMAGE="$image" >"$work/build.log" 2>&1 || {
	cat "$work/build.log"
	fail "make image failed"
}
cli=$root/bin/image/root/usr/local/bin/caskade # the binary in the image
[[ -x $cli ]] || fail "make image did not leave $cli"

log "starting the cluster (project $project, network $CASKADE_NET.0/24)"
up_at=$SECONDS
dc up -d >"$work/up.log" 2>&1 || {
	cat "$work/up.log"
	fail "${compose[*]} up failed"
}

# container SERVICE: the id of the service's container, running or not.
container() {
	docker ps -aq --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1" | head -n1
}

# The client certificate, out of the certs volume.
certs_id=$(container certs)
[[ -n $certs_id ]] || fail "no certs container"
timeout 30 docker cp "$certs_id:/certs/." "$work/certs" || fail "cannot copy the certificates out of the certs volume"

# host_port SERVICE PORT: 127.0.0.1:N published for the container's PORT.
host_port() {
	local p
	p=$(timeout 30 docker port "$(container "$1")" "$2/tcp" | grep -m1 '^127\.0\.0\.1:') || return 1
	printf '%s\n' "$p"
}
declare -A grpc metrics
for s in node1 node2 node3; do
	grpc[$s]=$(host_port "$s" 7070) || fail "$s publishes no gRPC port"
	metrics[$s]=$(host_port "$s" 9090) || fail "$s publishes no metrics port"
done
log "gRPC at node1=${grpc[node1]} node2=${grpc[node2]} node3=${grpc[node3]}"

# --- Helpers ---------------------------------------------------------------

# cli_to SERVICE ARGS...: the caskade client against SERVICE's node.
cli_to() {
	local s=$1
	shift
	timeout 30 "$cli" "$@" --endpoints "${grpc[$s]}" --timeout 5s \
		--cert "$work/certs/client-root.pem" --key "$work/certs/client-root-key.pem" --ca "$work/certs/ca.pem"
}

# ready SERVICE: whether GET /readyz on its metrics port answers 200 (bash's
# /dev/tcp: the host needs no HTTP client).
ready() {
	local hp=${metrics[$1]}
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 5 bash -c '
		exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
		printf "GET /readyz HTTP/1.0\r\nHost: caskade\r\n\r\n" >&3
		IFS= read -r line <&3
		[[ $line == "HTTP/1."?" 200"* ]]' _ "$hp" 2>/dev/null
}

# status_field SERVICE FIELD: FIELD of SERVICE's status -o json (strings
# and booleans), or nothing when the node does not answer.
status_field() {
	local st
	st=$(cli_to "$1" status -o json 2>/dev/null) || return 0
	sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$st"
}

# wait_leader SECONDS SERVICE...: waits until every SERVICE is ready, one
# of them says it leads, and all name that one's address as the leader's;
# prints the leader's service.
wait_leader() {
	local deadline=$((SECONDS + $1)) s a leader addr agreed
	shift
	while ((SECONDS < deadline)); do
		leader="" agreed=yes addr=""
		for s in "$@"; do
			ready "$s" || { agreed="" && break; }
			[[ $(status_field "$s" is_leader) == true ]] && leader=$s
			a=$(status_field "$s" leader_addr)
			if [[ -z $a || (-n $addr && $a != "$addr") ]]; then
				agreed=""
				break
			fi
			addr=$a
		done
		if [[ -n $agreed && -n $leader ]]; then
			printf '%s\n' "$leader"
			return 0
		fi
		sleep 1
	done
	return 1
}

# check_all SERVICE FILE [SCAN FLAGS...]: whether every "KEY VALUE" line
# of FILE is in a scan of ct/ through SERVICE, with that value; if not,
# says why in $why.
why=""
check_all() {
	local s=$1 want=$2
	shift 2
	if ! cli_to "$s" scan --prefix ct/ "$@" >"$work/scan.$s" 2>"$work/scan.$s.err"; then
		why="the scan through $s failed: $(tail -n1 "$work/scan.$s.err")"
		return 1
	fi
	tr '\t' ' ' <"$work/scan.$s" | sort >"$work/have.$s"
	sort "$want" >"$work/want.sorted"
	comm -23 "$work/want.sorted" "$work/have.$s" >"$work/missing.$s" # wanted, not had
	if [[ -s $work/missing.$s ]]; then
		why="$s lacks $(wc -l <"$work/missing.$s") of $(wc -l <"$want") acknowledged writes, such as: $(head -n3 "$work/missing.$s" | tr '\n' ' ')"
		return 1
	fi
}

# --- 1. The cluster forms ---------------------------------------------------

leader=$(wait_leader 120 node1 node2 node3) || fail "no leader all three nodes agree on within 120s"
log "step 1: /readyz 200 on all three and one leader, $leader, $((SECONDS - up_at))s after up"
followers=()
for s in node1 node2 node3; do [[ $s == "$leader" ]] || followers+=("$s"); done
writer=${followers[0]} reader=${followers[1]}

# --- 2. Write through one node, read through another ------------------------

: >"$work/acked"
for ((i = 1; i <= writes; i++)); do
	k=$(printf 'ct/a/%04d' "$i")
	cli_to "$writer" put "$k" "value-$i" >/dev/null || fail "put $k through $writer (a follower) failed"
	printf '%s %s\n' "$k" "value-$i" >>"$work/acked"
done
for ((i = 1; i <= writes; i++)); do
	k=$(printf 'ct/a/%04d' "$i")
	got=$(cli_to "$reader" get "$k") || fail "get $k through $reader failed"
	[[ $got == "value-$i" ]] || fail "get $k through $reader: got '$got', want 'value-$i'"
done
log "step 2: $writes puts through $writer read back through $reader"

# --- 3. Kill the leader under writes ---------------------------------------

# A writer through $writer (a follower, which forwards to the leader): one
# put at a time, each bounded; only a put that exits 0 is acknowledged.
touch "$work/writing"
(
	j=0
	while [[ -e $work/writing ]] && ((j < 5000)); do
		j=$((j + 1))
		k=$(printf 'ct/b/%05d' "$j")
		if cli_to "$writer" put "$k" "during-$j" >/dev/null 2>&1; then
			printf '%s %s\n' "$k" "during-$j" >>"$work/acked.b"
		else
			echo x >>"$work/failed.b"
		fi
	done
) &
writer_pid=$!
acked_b() { if [[ -f $work/acked.b ]]; then wc -l <"$work/acked.b"; else echo 0; fi; }
wait_acked() { # N SECONDS: until the writer has N acknowledged puts
	local deadline=$((SECONDS + $2))
	while (($(acked_b) < $1)); do
		((SECONDS < deadline)) || return 1
		kill -0 "$writer_pid" 2>/dev/null || return 1
		sleep 0.2
	done
}
stop_writer() {
	rm -f "$work/writing"
	wait "$writer_pid" 2>/dev/null || true
}

wait_acked 20 60 || {
	stop_writer
	fail "the writer through $writer got fewer than 20 puts acknowledged in 60s"
}
before_kill=$(acked_b)
killed=$leader
log "step 3: killing the leader $killed (docker kill, SIGKILL) after $before_kill acknowledged puts"
timeout 30 docker kill "$(container "$killed")" >/dev/null || {
	stop_writer
	fail "docker kill $killed failed"
}
kill_at=$SECONDS
if ! new_leader=$(wait_leader 60 "$writer" "$reader"); then
	stop_writer
	fail "no new leader among $writer and $reader within 60s of killing $killed"
fi
elected_in=$((SECONDS - kill_at))
at_election=$(acked_b)
wait_acked $((at_election + 20)) 60 || {
	stop_writer
	fail "fewer than 20 puts acknowledged through $writer within 60s after $new_leader was elected"
}
stop_writer
failed=0
[[ -f $work/failed.b ]] && failed=$(wc -l <"$work/failed.b")
log "step 3: $new_leader elected within ${elected_in}s; writer: $(acked_b) puts acknowledged, $failed failed (around the failover)"
cat "$work/acked.b" >>"$work/acked"
total=$(wc -l <"$work/acked")

# --- 4. Every acknowledged write is there ------------------------------------

for s in "$reader" "$writer"; do
	check_all "$s" "$work/acked" || fail "linearizable scan: $why"
done
log "step 4: all $total acknowledged writes read through $reader and $writer"

log "step 4: starting $killed again"
timeout 30 docker start "$(container "$killed")" >/dev/null || fail "docker start $killed failed"
# A restarted container gets new ephemeral host ports.
grpc[$killed]=$(host_port "$killed" 7070) || fail "$killed publishes no gRPC port"
metrics[$killed]=$(host_port "$killed" 9090) || fail "$killed publishes no metrics port"
wait_leader 120 node1 node2 node3 >/dev/null || fail "$killed did not rejoin (ready, same leader) within 120s"
# Its own replica (a stale read: no round trip to the leader) catches up.
deadline=$((SECONDS + 60))
until check_all "$killed" "$work/acked" --stale; do
	((SECONDS < deadline)) || fail "60s after the restart, a stale scan of $killed's own replica: $why"
	sleep 1
done
log "step 4: $killed rejoined and its own replica holds all $total acknowledged writes"

log "PASS: 3-node mutual-TLS cluster; leader $killed killed, $new_leader elected within ${elected_in}s; $total/$total acknowledged writes on every node"
