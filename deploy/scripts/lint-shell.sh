#!/usr/bin/env bash
# lint-shell.sh: shellcheck every shell script kaas ships, including the ones embedded in
# the nodes' and the template builds' cloud-init user data (executors/bootstrap), which a
# provider's templates run on real VMs, and the provider scripts of the repository's
# recipes (deploy/recipes). The embedded scripts are taken from the golden renderings, so
# what is checked is exactly what a VM receives.
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
# extract FILE KEY OUT: write each "KEY: |" block scalar of the YAML file that starts with
# a shebang to OUT-<n>.sh. A block's lines are indented deeper than its key; the first
# line's indentation is the block's.
extract() {
	awk -v key="$2" -v out="$3" '
		$0 ~ "^[[:space:]]*(- )?" key ": [|][-+]?[[:space:]]*$" {
			match($0, /^[[:space:]]*(- )?/); keyIndent = RLENGTH; inBlock = 1; n++; first = 1; next
		}
		inBlock {
			match($0, /^[[:space:]]*/)
			if ($0 !~ /^[[:space:]]*$/ && RLENGTH <= keyIndent) { inBlock = 0 }
			else {
				if (first) { blockIndent = RLENGTH }
				line = substr($0, blockIndent + 1)
				if (first && line !~ /^#!/) { inBlock = 0; next }
				first = 0
				print line > (out "-" n ".sh")
				next
			}
		}
	' "$1"
}

for golden in executors/bootstrap/testdata/*.golden.yaml; do
	extract "$golden" content "$tmp/$(basename "$golden" .golden.yaml)"
done
scripts=("$tmp"/*.sh)
if [ ! -e "${scripts[0]}" ] || [ ! -e "$tmp/build-1.sh" ]; then
	echo "no embedded scripts (or no build's) found in executors/bootstrap/testdata: the extraction is broken" >&2
	exit 1
fi
shellcheck --shell=sh "${scripts[@]}"

# The recipes' scripts run as their shebang says; those in a shell shellcheck knows are
# checked as that shell. They may source /etc/kaas/build.env, which only the guest has
# (SC1091).
mkdir "$tmp/recipes"
for recipe in deploy/recipes/*.yaml; do
	[ -e "$recipe" ] || continue
	extract "$recipe" run "$tmp/recipes/$(basename "$recipe" .yaml)"
done
recipeScripts=()
for s in "$tmp"/recipes/*.sh; do
	[ -e "$s" ] || continue
	if head -n 1 "$s" | grep -Eq '^#! *(/usr)?/bin/(env +)?(sh|bash|dash|ksh)( |$)'; then
		recipeScripts+=("$s")
	fi
done
if [ "${#recipeScripts[@]}" -gt 0 ]; then
	shellcheck --exclude=SC1091 "${recipeScripts[@]}"
fi
echo "shellcheck: ${#scripts[@]} embedded bootstrap and build scripts, ${#recipeScripts[@]} recipe scripts and the repository's scripts are clean" >&2
