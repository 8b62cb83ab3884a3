#!/usr/bin/env bash
# check-imports.sh: data flows one way (ingress → commands → executors → events →
# projector → views → queries), and packages import only along it. This fails the lint
# when a package imports a kaas package it should not.
set -euo pipefail
mod=$(go list -m)
fail=0
# allowed <package prefix> <kaas prefixes it may import, space separated>
check() {
	local pkg=$1
	shift
	local imports
	imports=$(go list -f '{{join .Imports "\n"}}' "$mod/$pkg/..." 2>/dev/null | grep "^$mod/" | sort -u || true)
	for imp in $imports; do
		local ok=0
		for allowed in "$@"; do
			case "$imp" in "$mod/$allowed" | "$mod/$allowed/"*) ok=1 ;; esac
		done
		case "$imp" in "$mod/$pkg" | "$mod/$pkg/"*) ok=1 ;; esac
		if [ $ok -eq 0 ]; then
			echo "import rule: $pkg must not import $imp" >&2
			fail=1
		fi
	done
}
# events itself imports nothing of ours; its subpackages only events. The VCD mirror comes
# after the queries (it makes VCD show what they render); the ingress and the queries reach
# its links only through interfaces deploy wires, never by importing it.
imports=$(go list -f '{{join .Imports "\n"}}' "$mod/events" | grep "^$mod/" || true)
if [ -n "$imports" ]; then
	echo "import rule: events must import nothing of kaas, but imports: $imports" >&2
	fail=1
fi
check events events
check executors events
check projector events
check queries events projector
check ingress events
check mirror events projector queries
# What kaasd registers in VCD (package rde) knows CSE's names, never kaas's machinery.
check deploy/rde events
# The VCD simulator plays VCD from the documents (architecture.md §5): a simulator built from
# the code it tests cannot catch a wire mistake, so it imports nothing of kaas outside
# itself (its tests may).
check deploy/vcdsim
check deploy/cmd/vcdsim deploy/vcdsim
# Shipped binaries do not link package testing (test helpers they use take an interface).
for bin in kaasd kaasctl vcdsim; do
	if go list -deps "$mod/deploy/cmd/$bin" | grep -qx testing; then
		echo "import rule: deploy/cmd/$bin links package testing: $(go list -deps -f '{{.ImportPath}} {{join .Imports " "}}' "$mod/deploy/cmd/$bin" | grep -E ' testing( |$)' | cut -d' ' -f1 | tr '\n' ' ')" >&2
		fail=1
	fi
done
exit $fail
