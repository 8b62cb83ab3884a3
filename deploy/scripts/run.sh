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
"$GO" build -o bin/ ./deploy/cmd/kaasd ./deploy/cmd/vcdsim

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
sim_url="https://$VCDSIM_ADDR"
provider=$(curl -ksi -u "$KAAS_VCD_USER@System:$KAAS_VCD_PASSWORD" -X POST "$sim_url/cloudapi/1.0.0/sessions/provider" |
	awk -F': ' 'tolower($1)=="x-vmware-vcloud-access-token" {print $2}' | tr -d '\r')
ovdcs=""
for _ in $(seq 1 100); do
	ovdcs=$(curl -ksf -H "Authorization: Bearer $provider" -H 'Accept: application/json;version=36.0' \
		"$sim_url/api/cse/3.0/ovdcs" 2>/dev/null || true)
	case $ovdcs in *ovdc_id*) break ;; esac
	sleep 0.2
done
printf '%s' "$ovdcs" | grep -o '"ovdc_name":"[^"]*","ovdc_id":"[^"]*","org_name":"[^"]*"' |
	while IFS= read -r vdc; do
		name=$(printf '%s' "$vdc" | sed 's/.*"ovdc_name":"\([^"]*\)".*/\1/')
		id=$(printf '%s' "$vdc" | sed 's/.*"ovdc_id":"\([^"]*\)".*/\1/')
		org=$(printf '%s' "$vdc" | sed 's/.*"org_name":"\([^"]*\)".*/\1/')
		curl -ksf -o /dev/null -X PUT -H "Authorization: Bearer $provider" -H 'Accept: application/json;version=36.0' \
			-H 'Content-Type: application/json' -d "{\"k8s_runtime\":[\"native\"],\"org_name\":\"$org\",\"ovdc_name\":\"$name\"}" \
			"$sim_url/api/cse/3.0/ovdc/$id" && echo "enabled org VDC $name of org $org for native Kubernetes"
	done

cat <<MSG

kaas is up. The simulated VCD is at https://$VCDSIM_ADDR (its log: $KAAS_DATA_DIR/vcdsim.log).
As tenant alice of org acme:

  TOKEN=\$(curl -ksi -u alice@acme:alice-pass -X POST https://$VCDSIM_ADDR/cloudapi/1.0.0/sessions \\
          | awk -F': ' 'tolower(\$1)=="x-vmware-vcloud-access-token" {print \$2}' | tr -d '\r')
  curl -ks -H "Authorization: Bearer \$TOKEN" -H 'Accept: application/json;version=36.0' \\
       https://$VCDSIM_ADDR/api/cse/3.0/clusters

See README.md for the whole tenant story. Metrics and health: http://${KAAS_ADMIN_ADDR:-127.0.0.1:9090}/readyz?verbose
Stop with Ctrl-C.

MSG
wait "$kaasd"
