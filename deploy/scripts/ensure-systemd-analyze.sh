#!/usr/bin/env bash
# ensure-systemd-analyze.sh: make sure systemd-analyze (from Debian's systemd package) is on
# PATH, for the check of the shipped units in `make test` and `make units`. It installs the
# package with apt-get when it is missing and we are root, and otherwise says what to do. The
# check never needs systemd to run: `systemd-analyze verify` reads unit files only.
set -euo pipefail

if command -v systemd-analyze >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "systemd-analyze is not installed: installing Debian's systemd package with apt-get..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends systemd >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends systemd >/dev/null; }
	command -v systemd-analyze >/dev/null 2>&1 && exit 0
fi
echo "systemd-analyze is missing. Install it (Debian/Ubuntu: sudo apt-get install systemd) and run make test again." >&2
exit 1
