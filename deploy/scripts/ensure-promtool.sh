#!/usr/bin/env bash
# ensure-promtool.sh: make sure promtool (from Debian's prometheus package) is on PATH, for
# the alert rule tests and the metrics check of `make test`. It installs the package with
# apt-get when it is missing and we are root, and otherwise says what to do.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "promtool is not installed: installing Debian's prometheus package with apt-get..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends prometheus >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
	# Only promtool is wanted: a Prometheus server started by the package would take port
	# 9090, kaasd's default admin address.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
	command -v promtool >/dev/null 2>&1 && exit 0
fi
echo "promtool is missing. Install it (Debian/Ubuntu: sudo apt-get install prometheus) and run make test again." >&2
exit 1
