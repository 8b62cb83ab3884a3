#!/usr/bin/env bash
# ensure-rabbitmq.sh: make sure the RabbitMQ that kaas talks to answers.
#
# With KAAS_AMQP_URL pointing elsewhere, it only checks that broker. For the local one
# (the default, 127.0.0.1:5672) it starts RabbitMQ if it is installed but down, installs it
# with apt-get if it is missing and we are root, and otherwise says what to do.
set -euo pipefail

url="${KAAS_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
hostport="${url#*://}"
hostport="${hostport##*@}"
hostport="${hostport%%/*}"
host="${hostport%%:*}"
port="${hostport##*:}"
[ "$port" = "$host" ] && port=5672

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

wait_up() {
	for _ in $(seq 1 90); do
		answers && return 0
		sleep 1
	done
	return 1
}

if answers; then
	exit 0
fi

case "$host" in
127.0.0.1 | localhost | ::1) ;;
*)
	echo "RabbitMQ at $host:$port does not answer. Check KAAS_AMQP_URL or start that broker." >&2
	exit 1
	;;
esac

if ! command -v rabbitmq-server >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "RabbitMQ is not installed: installing it with apt-get..." >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
	else
		cat >&2 <<'MSG'
RabbitMQ is not installed and this user cannot install it.
Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server) and run this again,
or set KAAS_AMQP_URL to a RabbitMQ you already run.
MSG
		exit 1
	fi
fi

echo "Starting RabbitMQ (rabbitmq-server -detached)..." >&2
rabbitmq-server -detached >/dev/null 2>&1 || true
if ! wait_up; then
	echo "RabbitMQ did not come up on $host:$port within 90s; see /var/log/rabbitmq/ for why." >&2
	exit 1
fi
echo "RabbitMQ is up on $host:$port." >&2
