#!/usr/bin/env bash
# run.sh: the whole system on one machine (make run): RabbitMQ, the VCD simulator, and
# kaasd with embedded JetStream, registered with the simulator as its API extension.
#
# A first run (a RabbitMQ that never saw kaas, an empty data dir) goes as any later one:
# `kaasd install` declares the queue before VCD relays anything to it, and the provider's
# set-up waits for kaasd's /readyz and retries what may still race. Every failure says
# what failed and where the logs are. Ctrl-C or SIGTERM stops kaasd, then vcdsim, and
# waits for both.
set -euo pipefail
cd "$(dirname "$0")/../.."
me="make run"
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

GO=${GO:-go}
export KAAS_DATA_DIR=${KAAS_DATA_DIR:-./data}
VCDSIM_ADDR=${VCDSIM_ADDR:-127.0.0.1:8443}
ADMIN_ADDR=${KAAS_ADMIN_ADDR:-127.0.0.1:9090}
READY_TIMEOUT=60 # seconds for kaasd to be ready, and again for it to list the org VDCs
mkdir -p "$KAAS_DATA_DIR" bin
sim_log=$KAAS_DATA_DIR/vcdsim.log
kaasd_log=$KAAS_DATA_DIR/kaasd.log

# local_addr turns a listen address (":9090", "0.0.0.0:9090") into one to connect to.
local_addr() {
	case $1 in
	:*) echo "127.0.0.1$1" ;;
	0.0.0.0:*) echo "127.0.0.1:${1#0.0.0.0:}" ;;
	*) echo "$1" ;;
	esac
}
admin=$(local_addr "$ADMIN_ADDR")
sim_url=https://$(local_addr "$VCDSIM_ADDR")

for a in "$(local_addr "$VCDSIM_ADDR")" "$admin"; do
	if in_use "$a"; then
		fail "something already listens on $a (another make run?): stop it first, or set VCDSIM_ADDR and KAAS_ADMIN_ADDR"
	fi
done

./deploy/scripts/ensure-rabbitmq.sh
version=${KAAS_VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
"$GO" build -ldflags "-X main.version=$version -X github.com/kaasproject/kaas/deploy/kaasd.Version=$version" \
	-o bin/ ./deploy/cmd/kaasd ./deploy/cmd/vcdsim ./deploy/cmd/kaasctl

sim=""
kaasd=""
# stop stops kaasd first (it may still be recording a step's outcome in VCD), then vcdsim,
# and waits for each.
stop() {
	local pid
	for pid in $kaasd $sim; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	kaasd=""
	sim=""
}
trap stop EXIT
trap 'echo "stopping kaas..." >&2; stop; trap - EXIT; exit 0' INT TERM

bin/vcdsim -addr "$VCDSIM_ADDR" >"$sim_log" 2>&1 &
sim=$!
deadline=$((SECONDS + 10))
until curl -ksf --max-time 2 "$sim_url/api/versions" >/dev/null; do
	kill -0 "$sim" 2>/dev/null || fail "vcdsim exited while starting" "$sim_log"
	[ "$SECONDS" -lt "$deadline" ] || fail "vcdsim did not answer on $sim_url within 10s" "$sim_log"
	sleep 0.2
done

export KAAS_VCD_URL=${KAAS_VCD_URL:-$sim_url/api}
export KAAS_VCD_USER=${KAAS_VCD_USER:-administrator}
export KAAS_VCD_PASSWORD=${KAAS_VCD_PASSWORD:-kaas-admin}
export KAAS_VCD_INSECURE=${KAAS_VCD_INSECURE:-true}
export KAAS_POLL_INTERVAL=${KAAS_POLL_INTERVAL:-500ms}
# Template builds run in the simulator's only org VDC (a real VCD has one of the provider's
# own for them, with internet access for the guest's downloads).
export KAAS_BUILD_ORG=${KAAS_BUILD_ORG:-acme} KAAS_BUILD_VDC=${KAAS_BUILD_VDC:-acme-vdc} KAAS_BUILD_NETWORK=${KAAS_BUILD_NETWORK:-acme-net}
# The queue first, then the registration: from then on a call VCD relays waits in the queue
# until kaasd reads it. Then CSE's entity types, whose rights bundle goes to every tenant
# org here (a real installation chooses; the default is none).
export KAAS_PUBLISH_RIGHTS=${KAAS_PUBLISH_RIGHTS:-all}
bin/kaasd install || fail "kaasd install failed (its error is above)"

bin/kaasd >"$kaasd_log" 2>&1 &
kaasd=$!
echo "kaasd is starting; its log: $kaasd_log"
deadline=$((SECONDS + READY_TIMEOUT))
until curl -sf --max-time 2 "http://$admin/readyz" >/dev/null; do
	kill -0 "$kaasd" 2>/dev/null || fail "kaasd exited while starting" "$kaasd_log"
	if [ "$SECONDS" -ge "$deadline" ]; then
		fail "kaasd was not ready within ${READY_TIMEOUT}s (http://$admin/readyz?verbose says which check fails)" "$kaasd_log"
	fi
	sleep 0.2
done

# As the provider, enable every org VDC for Kubernetes.
enable_vdcs "$sim_url" "$KAAS_VCD_USER" "$KAAS_VCD_PASSWORD" "$KAAS_DATA_DIR/provider-session.yaml" "$kaasd_log" "$READY_TIMEOUT"

cat <<MSG

kaas is up. The simulated VCD is at $sim_url.
Logs: kaasd $kaasd_log, vcdsim $sim_log.
As tenant alice of org acme, in another shell:

  bin/kaasctl login $sim_url --org acme --user alice --insecure   # password: alice-pass
  bin/kaasctl cluster apply --sample > demo.yaml
  bin/kaasctl cluster apply -f demo.yaml --wait

See README.md for the whole tenant story. Metrics and health: http://$admin/readyz?verbose
Stop with Ctrl-C.

MSG
status=0
wait "$kaasd" || status=$?
kaasd=""
if [ "$status" -ne 0 ]; then
	fail "kaasd exited with status $status" "$kaasd_log"
fi
echo "kaasd stopped; its log: $kaasd_log"
