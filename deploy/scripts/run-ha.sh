#!/usr/bin/env bash
# run-ha.sh: kaas as a provider runs it, on one machine (make run-ha): three nats-servers in
# one cluster (deploy/nats/node-{1,2,3}.conf), three kaasd on it with every stream replicated
# three times, one secrets key file and one AMQP queue, RabbitMQ, and the VCD simulator with
# kaas registered as its API extension. The tenant story is make run's.
#
# Everything lives under $KAAS_DATA_DIR/ha (default ./data/ha): the nodes' stores, the
# instances' data dirs, the key file (made on the first run) and every log. A kaasd or NATS
# node that exits is started again a second later, as systemd's Restart=always does, so
# `kill -9` on one of them shows the others carrying on; one that exits again within 10s of
# its start stops everything, with its log. Ctrl-C or SIGTERM stops the kaasd instances,
# then vcdsim, then the NATS nodes, and waits for each.
set -euo pipefail
cd "$(dirname "$0")/../.."
me="make run-ha"
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

GO=${GO:-go}
mkdir -p "${KAAS_DATA_DIR:-./data}/ha" bin
base=$(cd "${KAAS_DATA_DIR:-./data}/ha" && pwd) # absolute: nats-server reads the store dir from the environment
VCDSIM_ADDR=${VCDSIM_ADDR:-127.0.0.1:8443}
READY_TIMEOUT=90 # seconds for each step to be ready (three kaasd and three nodes share the machine)
sim_log=$base/vcdsim.log
sim_url=https://$VCDSIM_ADDR
nodes=(1 2 3)
nats_urls=nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233
key_file=$base/secrets.key

# wait_http waits until url answers 200, while the process pid runs.
wait_http() {
	local what=$1 url=$2 pid=$3 log=$4 deadline=$((SECONDS + READY_TIMEOUT))
	until curl -ksf --max-time 2 "$url" >/dev/null; do
		kill -0 "$pid" 2>/dev/null || fail "$what exited while starting" "$log"
		[ "$SECONDS" -lt "$deadline" ] || fail "$what was not ready within ${READY_TIMEOUT}s ($url)" "$log"
		sleep 0.2
	done
}

for a in "$VCDSIM_ADDR" 127.0.0.1:4231 127.0.0.1:4232 127.0.0.1:4233 127.0.0.1:6231 127.0.0.1:6232 127.0.0.1:6233 \
	127.0.0.1:8231 127.0.0.1:8232 127.0.0.1:8233 127.0.0.1:9091 127.0.0.1:9092 127.0.0.1:9093; do
	if in_use "$a"; then
		fail "something already listens on $a (another make run-ha, or make run?): stop it first"
	fi
done

./deploy/scripts/ensure-rabbitmq.sh
version=${KAAS_VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
"$GO" build -ldflags "-X main.version=$version -X github.com/kaasproject/kaas/deploy/kaasd.Version=$version" \
	-o bin/ ./deploy/cmd/kaasd ./deploy/cmd/vcdsim ./deploy/cmd/kaasctl
# nats-server at the version go.mod names (2.12 or newer, as kaasd requires).
"$GO" build -o bin/nats-server github.com/nats-io/nats-server/v2

sim=""
declare -A pid started
# stop stops the kaasd instances first (one may still be recording a step's outcome in
# VCD), then vcdsim, then the NATS nodes, and waits for each.
stop() {
	local p
	for p in "${pid[kaasd-1]:-}" "${pid[kaasd-2]:-}" "${pid[kaasd-3]:-}" "$sim" \
		"${pid[nats-1]:-}" "${pid[nats-2]:-}" "${pid[nats-3]:-}"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pid=()
	sim=""
}
trap stop EXIT
trap 'echo "stopping kaas..." >&2; stop; trap - EXIT; exit 0' INT TERM

# start_nats i starts node i on its config, its store under $base.
start_nats() {
	KAAS_NATS_STORE=$base/nats-$1 bin/nats-server -c "deploy/nats/node-$1.conf" >>"$base/nats-$1.log" 2>&1 &
	pid[nats-$1]=$!
	started[nats-$1]=$SECONDS
}

# start_kaasd i starts instance i: its own data dir and admin port, the shared rest.
start_kaasd() {
	KAAS_DATA_DIR=$base/kaasd-$1 KAAS_ADMIN_ADDR=127.0.0.1:909$1 bin/kaasd >>"$base/kaasd-$1.log" 2>&1 &
	pid[kaasd-$1]=$!
	started[kaasd-$1]=$SECONDS
}

for i in "${nodes[@]}"; do
	start_nats "$i"
done
echo "NATS is starting; its logs: $base/nats-{1,2,3}.log"
for i in "${nodes[@]}"; do
	wait_http "NATS node $i" "http://127.0.0.1:823$i/healthz?js-enabled-only=true" "${pid[nats-$i]}" "$base/nats-$i.log"
done
# A cluster with a meta leader, which creating replicated streams needs.
for i in "${nodes[@]}"; do
	wait_http "NATS node $i in the cluster" "http://127.0.0.1:823$i/healthz" "${pid[nats-$i]}" "$base/nats-$i.log"
done

bin/vcdsim -addr "$VCDSIM_ADDR" >"$sim_log" 2>&1 &
sim=$!
wait_http vcdsim "$sim_url/api/versions" "$sim" "$sim_log"

export KAAS_VCD_URL=${KAAS_VCD_URL:-$sim_url/api}
export KAAS_VCD_USER=${KAAS_VCD_USER:-administrator}
export KAAS_VCD_PASSWORD=${KAAS_VCD_PASSWORD:-kaas-admin}
export KAAS_VCD_INSECURE=${KAAS_VCD_INSECURE:-true}
export KAAS_POLL_INTERVAL=${KAAS_POLL_INTERVAL:-500ms}
export KAAS_BUILD_ORG=${KAAS_BUILD_ORG:-acme} KAAS_BUILD_VDC=${KAAS_BUILD_VDC:-acme-vdc} KAAS_BUILD_NETWORK=${KAAS_BUILD_NETWORK:-acme-net}
export KAAS_PUBLISH_RIGHTS=${KAAS_PUBLISH_RIGHTS:-all}
# What every instance shares: the NATS cluster, three copies of every stream, the key that
# seals kubeconfigs (one instance must open what another sealed), and the AMQP queue
# (KAAS_AMQP_*'s defaults, the same for all three).
export KAAS_NATS_URL=$nats_urls KAAS_REPLICAS=3 KAAS_SECRETS_KEY_FILE=$key_file
if [ ! -s "$key_file" ]; then
	(umask 077 && head -c 32 /dev/urandom | base64 >"$key_file")
	echo "made the secrets key $key_file (keep it: the kubeconfigs in NATS are sealed with it)"
fi
KAAS_DATA_DIR=$base/kaasd-1 bin/kaasd install || fail "kaasd install failed (its error is above)"

# The first instance declares the streams on the cluster; the other two find them.
start_kaasd 1
echo "kaasd is starting; its logs: $base/kaasd-{1,2,3}.log"
wait_http kaasd-1 "http://127.0.0.1:9091/readyz" "${pid[kaasd-1]}" "$base/kaasd-1.log"
start_kaasd 2
start_kaasd 3
for i in 2 3; do
	wait_http "kaasd-$i" "http://127.0.0.1:909$i/readyz" "${pid[kaasd-$i]}" "$base/kaasd-$i.log"
done

# As the provider, enable every org VDC for Kubernetes (as make run does).
enable_vdcs "$sim_url" "$KAAS_VCD_USER" "$KAAS_VCD_PASSWORD" "$base/provider-session.yaml" "$base/kaasd-1.log" "$READY_TIMEOUT"

cat <<MSG

kaas is up: three kaasd (admin 127.0.0.1:9091..9093) on three NATS nodes (127.0.0.1:4231..4233,
monitoring http://127.0.0.1:8231..8233), every stream replicated three times.
The simulated VCD is at $sim_url. Logs: $base/*.log.
As tenant alice of org acme, in another shell:

  bin/kaasctl login $sim_url --org acme --user alice --insecure   # password: alice-pass
  bin/kaasctl cluster apply --sample > demo.yaml
  bin/kaasctl cluster apply -f demo.yaml --wait

See README.md for the whole tenant story. Kill one instance or node meanwhile (kaasd-2 is
pid ${pid[kaasd-2]}, nats-1 pid ${pid[nats-1]}): the others carry on, and this script starts
it again, as systemd would. Health: http://127.0.0.1:9091/readyz?verbose
Stop with Ctrl-C.

MSG

# Supervise: a process that exits is started again a second later; one that exits within
# 10s of its start is in a loop, and stops everything.
while :; do
	status=0 exited=""
	wait -n -p exited "${pid[@]}" || status=$?
	[ -n "$exited" ] || continue
	for name in kaasd-1 kaasd-2 kaasd-3 nats-1 nats-2 nats-3; do
		[ "${pid[$name]:-}" = "$exited" ] && break
	done
	if [ $((SECONDS - started[$name])) -lt 10 ]; then
		unset "pid[$name]"
		fail "$name exited with status $status within 10s of its start" "$base/$name.log"
	fi
	echo "$name exited with status $status; starting it again in 1s (its log: $base/$name.log)" >&2
	sleep 1
	case $name in
	kaasd-*) start_kaasd "${name#kaasd-}" ;;
	nats-*) start_nats "${name#nats-}" ;;
	esac
done
