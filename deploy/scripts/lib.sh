#!/usr/bin/env bash
# lib.sh: what make run (run.sh) and make run-ha (run-ha.sh) share. Sourced, not run: the
# sourcing script sets `me` (its make target, for messages) and the EXIT trap that stops
# what it started.

# in_use reports whether something already listens on host:port.
in_use() {
	local host=${1%:*} port=${1##*:}
	host=${host#[}
	host=${host%]}
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# fail says what went wrong, shows the end of the log that says why, and exits (the EXIT
# trap stops what was started).
fail() {
	local msg=$1 log=${2:-}
	echo >&2
	echo "${me:-kaas}: $msg" >&2
	if [ -n "$log" ]; then
		echo "The end of $log:" >&2
		tail -n 20 "$log" >&2 || true
	fi
	exit 1
}

# enable_vdcs VCD_URL USER PASSWORD SESSION_FILE LOG TIMEOUT: as the provider, enables every
# org VDC for Kubernetes once kaasd has read them from VCD (tenants cannot create clusters
# in a VDC that is not enabled, as with CSE). kaasd reads them just after it starts, so the
# list may be empty for a moment; LOG is the one to show on failure.
enable_vdcs() {
	local url=$1 user=$2 password=$3 session=$4 log=$5 timeout=$6
	local err out vdcs="" deadline id tries
	if ! err=$(printf '%s\n' "$password" |
		KAAS_CONFIG=$session bin/kaasctl login "$url" --org System --user "$user" --password-stdin --insecure 2>&1 >/dev/null); then
		fail "could not log in to $url as the provider: $err" "$log"
	fi
	deadline=$((SECONDS + timeout))
	while :; do
		if out=$(KAAS_CONFIG=$session bin/kaasctl ovdc list -o wide 2>&1); then
			vdcs=$(printf '%s\n' "$out" | awk 'NR > 1 {print $NF}')
			[ -n "$vdcs" ] && break
			out="kaas lists no org VDC yet"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			fail "could not list the org VDCs within ${timeout}s: $out" "$log"
		fi
		sleep 0.5
	done
	for id in $vdcs; do
		tries=0
		until err=$(KAAS_CONFIG=$session bin/kaasctl ovdc enable "$id" --wait 2>&1 >/dev/null); do
			tries=$((tries + 1))
			[ "$tries" -lt 5 ] || fail "could not enable org VDC $id: $err" "$log"
			sleep 1
		done
		echo "enabled org VDC $id for native Kubernetes"
	done
}
