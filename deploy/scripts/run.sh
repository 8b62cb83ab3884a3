#!/usr/bin/env bash
# run.sh: the whole system on one machine (make run): RabbitMQ, the VCD simulator, and
# kaasd with embedded JetStream, registered with the simulator as its API extension.
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
export KAAS_DATA_DIR=${KAAS_DATA_DIR:-./data}
VCDSIM_ADDR=${VCDSIM_ADDR:-127.0.0.1:8443}
mkdir -p "$KAAS_DATA_DIR" bin

./deploy/scripts/ensure-rabbitmq.sh
version=${KAAS_VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
"$GO" build -ldflags "-X main.version=$version -X github.com/kaasproject/kaas/deploy/kaasd.Version=$version" \
	-o bin/ ./deploy/cmd/kaasd ./deploy/cmd/vcdsim ./deploy/cmd/kaasctl

bin/vcdsim -addr "$VCDSIM_ADDR" >"$KAAS_DATA_DIR/vcdsim.log" 2>&1 &
sim=$!
kaasd=""
trap 'kill "$sim" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
	curl -ksf "https://$VCDSIM_ADDR/api/versions" >/dev/null && break
	sleep 0.2
done
curl -ksf "https://$VCDSIM_ADDR/api/versions" >/dev/null || {
	echo "vcdsim did not start; see $KAAS_DATA_DIR/vcdsim.log" >&2
	exit 1
}

export KAAS_VCD_URL=${KAAS_VCD_URL:-https://$VCDSIM_ADDR/api}
export KAAS_VCD_USER=${KAAS_VCD_USER:-administrator}
export KAAS_VCD_PASSWORD=${KAAS_VCD_PASSWORD:-kaas-admin}
export KAAS_VCD_INSECURE=${KAAS_VCD_INSECURE:-true}
export KAAS_POLL_INTERVAL=${KAAS_POLL_INTERVAL:-500ms}
bin/kaasd install

bin/kaasd &
kaasd=$!
trap 'kill "$kaasd" "$sim" 2>/dev/null || true' EXIT
trap 'kill -TERM "$kaasd" 2>/dev/null; wait "$kaasd"; exit 0' INT TERM

# As the provider, enable every org VDC for Kubernetes once kaasd has read them from VCD:
# tenants cannot create clusters in a VDC that is not enabled (as with CSE).
export KAAS_CONFIG="$KAAS_DATA_DIR/provider-session.yaml"
printf '%s\n' "$KAAS_VCD_PASSWORD" |
	bin/kaasctl login "https://$VCDSIM_ADDR" --org System --user "$KAAS_VCD_USER" --password-stdin --insecure >/dev/null
vdcs=""
for _ in $(seq 1 100); do
	vdcs=$(bin/kaasctl ovdc list -o wide 2>/dev/null | awk 'NR > 1 {print $NF}')
	[ -n "$vdcs" ] && break
	sleep 0.2
done
for id in $vdcs; do
	bin/kaasctl ovdc enable "$id" --wait >/dev/null 2>&1 && echo "enabled org VDC $id for native Kubernetes"
done
unset KAAS_CONFIG

cat <<MSG

kaas is up. The simulated VCD is at https://$VCDSIM_ADDR (its log: $KAAS_DATA_DIR/vcdsim.log).
As tenant alice of org acme, in another shell:

  bin/kaasctl login https://$VCDSIM_ADDR --org acme --user alice --insecure   # password: alice-pass
  bin/kaasctl cluster apply --sample > demo.yaml
  bin/kaasctl cluster apply -f demo.yaml --wait

See README.md for the whole tenant story. Metrics and health: http://${KAAS_ADMIN_ADDR:-127.0.0.1:9090}/readyz?verbose
Stop with Ctrl-C.

MSG
wait "$kaasd"
