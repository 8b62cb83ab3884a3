#!/usr/bin/env bash
# lint-shell.sh: shellcheck every shell script kaas ships, including the ones embedded in
# the nodes' cloud-init user data (executors/bootstrap), which a provider's templates run
# on real VMs. The embedded scripts are taken from the golden renderings, so what is
# checked is exactly what a node receives.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v shellcheck >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "shellcheck is not installed: installing it with apt-get..." >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
	else
		echo "shellcheck is not installed: sudo apt-get install shellcheck" >&2
		exit 1
	fi
fi

shellcheck deploy/scripts/*.sh .ci/run

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each "content: |" block that starts with a shebang is one script; its lines are indented
# deeper than the "content:" key.
for golden in executors/bootstrap/testdata/*.golden.yaml; do
	awk -v out="$tmp/$(basename "$golden" .golden.yaml)" '
		/^[[:space:]]*content: \|[[:space:]]*$/ { match($0, /^[[:space:]]*/); keyIndent = RLENGTH; inBlock = 1; n++; first = 1; next }
		inBlock {
			match($0, /^[[:space:]]*/)
			if ($0 !~ /^[[:space:]]*$/ && RLENGTH <= keyIndent) { inBlock = 0 }
			else {
				line = substr($0, keyIndent + 3)
				if (first && line !~ /^#!/) { inBlock = 0; next }
				first = 0
				print line > (out "-" n ".sh")
				next
			}
		}
	' "$golden"
done
scripts=("$tmp"/*.sh)
if [ ! -e "${scripts[0]}" ]; then
	echo "no embedded scripts found in executors/bootstrap/testdata: the extraction is broken" >&2
	exit 1
fi
shellcheck --shell=sh "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} embedded bootstrap scripts and the repository's scripts are clean" >&2
