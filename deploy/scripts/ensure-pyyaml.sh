#!/usr/bin/env bash
# ensure-pyyaml.sh: make sure a python3 with PyYAML, the YAML reader cloud-init uses, is
# installed: the bootstrap tests of `make test` read the rendered user data with it. It
# installs Debian's python3-yaml with apt-get when it is missing and we are root, and
# otherwise says what to do. The tests look for it in python3 on PATH, then /usr/bin/python3.
set -euo pipefail

have() {
	local py
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import yaml' >/dev/null 2>&1; then
			return 0
		fi
	done
	return 1
}

have && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "PyYAML is not installed: installing Debian's python3-yaml with apt-get..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends python3-yaml >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends python3-yaml >/dev/null; }
	have && exit 0
fi
echo "PyYAML is missing. Install it (Debian/Ubuntu: sudo apt-get install python3-yaml) and run make test again." >&2
exit 1
