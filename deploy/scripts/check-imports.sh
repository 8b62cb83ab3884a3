#!/usr/bin/env bash
# check-imports.sh: data flows one way (ingress → commands → executors → events →
# projector → views → queries), and packages import only along it. This fails the lint
# when a package, its tests or a shipped binary imports a kaas package it should not.
#
# Every kaas package falls under the rule of the longest prefix below, which names the kaas
# packages its production code may import and, after "|", what its tests may import on top
# (test files, external test packages, and test-support packages: those whose name ends in
# "test", e.g. natstest, clustertest, vcdexttest, kaasdtest, projectortest). "x" allows
# exactly x, "x/..." allows x and everything below it, "*" anything; "!x" (or "!x/...")
# forbids it, whatever else the rule allows. A package may always import itself (its
# external tests do). Besides the rules:
#   - production code never imports a test-support package;
#   - no binary in deploy/cmd links package testing or a test-support package (kaas's or
#     the standard library's, e.g. net/http/httptest), nor the executors' in-memory VCD
#     (executors/vcdmem), per `go list -deps`.
set -euo pipefail
set -f # the allowances hold "*", which is no file pattern
mod=$(go list -m)
fail=0

rules=$(
	cat <<'EOF'
# events itself imports nothing of ours; each subpackage names the events packages it needs.
# The tests of events/* use events/* only (natstest for a real nats-server).
events                | events/...
events/cluster        events | events/...
events/cse            events events/cluster | events/...
events/store          events | events/...
# The stores' conformance suite (test support) knows the store's types only; the two stores'
# tests run it (jsstore's on a real nats-server).
events/store/storetest | events events/store
events/jsstore        events events/store | events/natstest events/store/storetest
events/memstore       events events/store | events/store/storetest
events/recipe         events | events/...
events/template       events events/recipe | events/...
events/cluster/flawless events events/cluster | events/...
events/natstest       | events/...
# What every package's tests may share to wait for a condition: it imports nothing of kaas.
internal/waittest     |
# A test's own CA and certificates, and a TLS proxy in front of a plain server.
internal/tlstest      |
# Builds kaasd and nats-server for tests and the bench that run them as processes.
internal/gobuild      |
# Executors record events: the aggregates they plan with, templates and recipes they build
# from, the store's types (the store itself is an interface of theirs; deploy gives them
# JetStream's). Never CSE's wire types. Their tests run on the in-memory store (never a
# nats-server) and may run the VCD simulator.
executors             events events/cluster events/recipe events/template events/store executors/... | events/memstore deploy/vcdsim internal/waittest
# The projector folds events, never CSE's wire types (the ingress renders its replay
# report); it follows the streams through an interface of its own (projector.Source) with
# the store's types, never a store implementation; its tests run on the in-memory store.
projector             events events/cluster events/template events/store projector/... | events/cluster/clustertest events/memstore
# queries read views only, never the streams or the store.
queries               events events/cluster events/cse projector | projector/projectortest
# history reads the recorded history through a Source of its own, with records of its own,
# that deploy adapts the store to (never the store package); the views say who may read.
# Its tests run on the in-memory store, rendered by the real queries.
history               events events/cluster events/cse projector | events/store events/memstore projector/projectortest queries
# The ingress turns requests into commands; what it needs of the store (the dead letters)
# it declares, and deploy adapts. Its harness tests wire the real views and reads behind it.
ingress               events events/cluster events/cse events/recipe ingress/... | events/template events/cluster/clustertest projector queries history internal/waittest internal/tlstest
# The VCD mirror comes after the queries (it makes VCD show what they render); the ingress
# and the queries reach its links only through interfaces deploy wires, never by importing it.
# It follows the streams and keeps its state through an interface of its own (mirror.Store)
# with the store's types, never a store implementation; its tests run on the in-memory store.
mirror                events events/cluster events/cse events/store projector queries mirror/... | events/memstore projector/projectortest internal/waittest
# What kaasd registers in VCD (package rde) knows CSE's names, never kaas's machinery.
deploy/rde            events/cluster | events/cse executors/vcd deploy/vcdsim deploy/kaasd/kaasdtest
# The VCD simulator plays VCD from the documents (architecture.md §5): a simulator built
# from the code it tests cannot catch a wire mistake, so it imports nothing of kaas outside
# itself (its tests may).
deploy/vcdsim         deploy/vcdsim/... | executors/bootstrap ingress/vcdext/... internal/waittest
deploy/cmd/vcdsim     deploy/vcdsim |
# kaasctl speaks the API: the events it shows, CSE's wire types, the recipes it sends.
deploy/kaasctl        events events/cse events/recipe | deploy/kaasd deploy/kaasd/kaasdtest deploy/vcdsim
deploy/svc            | 
# The drills run kaasd and nats-server as processes; their tests set VCD and RabbitMQ up as
# kaasd install does, in process.
deploy/drill          | deploy/kaasd deploy/kaasd/kaasdtest deploy/vcdsim events/cse ingress/vcdext/vcdexttest internal/waittest internal/gobuild
deploy                | 
# The composition root and the binaries wire everything (but no test support, see above),
# except the executors' in-memory VCD, nor may their tests ("!" binds tests too): kaasd
# always drives a VCD through go-vcloud-director, a real one or vcdsim, the one model of
# the cloud for everything that runs kaasd (README, Development).
deploy/kaasd          * !executors/vcdmem |
deploy/cmd            * !executors/vcdmem |
EOF
)

# rule <package>: prints the "prod | test" allowances of the longest matching prefix.
rule() {
	local pkg=$1 best="" allow=""
	while read -r key rest; do
		case "$key" in "" | "#"*) continue ;; esac
		case "$pkg" in "$key" | "$key/"*)
			if [ ${#key} -gt ${#best} ]; then best=$key allow=$rest; fi ;;
		esac
	done <<<"$rules"
	if [ -z "$best" ]; then
		echo "none"
		return
	fi
	echo "$allow"
}

# allowed <import> <patterns...>: a "!" pattern that matches forbids, else any other that
# matches allows.
allowed() {
	local imp=$1
	shift
	for a in "$@"; do
		case "$a" in
		"!"*/...) case "$imp" in "${a:1:-4}" | "${a:1:-4}/"*) return 1 ;; esac ;;
		"!"*) [ "$imp" = "${a#!}" ] && return 1 ;;
		esac
	done
	for a in "$@"; do
		case "$a" in
		"!"*) ;;
		"*") return 0 ;;
		*/...) case "$imp" in "${a%/...}" | "${a%/...}/"*) return 0 ;; esac ;;
		*) [ "$imp" = "$a" ] && return 0 ;;
		esac
	done
	return 1
}

testsupport() { case "${1##*/}" in *test) return 0 ;; esac; return 1; }

# One line per kaas import: <package> <P|T> <import>, relative to the module.
# shellcheck disable=SC2016 # a Go template, not a shell expansion
graph=$(go list -f '{{$p := .ImportPath}}{{range .Imports}}{{$p}} P {{.}}
{{end}}{{range .TestImports}}{{$p}} T {{.}}
{{end}}{{range .XTestImports}}{{$p}} T {{.}}
{{end}}' "$mod/..." | grep " $mod/" | sed "s|$mod/||g; s|^$mod |. |; s| $mod\$| .|" | sort -u)

declare -A cache
while read -r pkg kind imp; do
	[ "$imp" = "$pkg" ] && continue
	if [ -z "${cache[$pkg]+x}" ]; then cache[$pkg]=$(rule "$pkg"); fi
	r=${cache[$pkg]}
	if [ "$r" = none ]; then
		echo "import rule: $pkg has no rule in check-imports.sh" >&2
		fail=1
		continue
	fi
	prod=${r%%|*} tst=${r#*|}
	[ "$r" = "$prod" ] && tst=""
	if testsupport "$pkg"; then kind=T; fi
	if [ "$kind" = P ] && testsupport "$imp"; then
		echo "import rule: $pkg (production code) must not import test-support package $imp" >&2
		fail=1
		continue
	fi
	# shellcheck disable=SC2086 # the allowances are space separated on purpose
	if [ "$kind" = P ]; then
		allowed "$imp" $prod && continue
		echo "import rule: $pkg must not import $imp" >&2
	else
		allowed "$imp" $prod $tst && continue
		echo "import rule: tests of $pkg must not import $imp" >&2
	fi
	fail=1
done <<<"$graph"

# Shipped binaries link no package testing, no test support and no in-memory VCD (whoever
# imports it).
for bin in $(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' "$mod/deploy/cmd/..." | sed "s|^$mod/||"); do
	bad=$(go list -deps "$mod/$bin" | grep -v -e '^internal/' -e '/internal/' |
		awk -F/ -v fake="$mod/executors/vcdmem" '$0 == "testing" || $0 ~ /^testing\// || $NF ~ /test$/ || $0 == fake' || true)
	if [ -n "$bad" ]; then
		echo "import rule: $bin links test code: $(echo "$bad" | tr '\n' ' ')" >&2
		for b in $bad; do
			echo "  imported by: $(go list -deps -f '{{.ImportPath}} {{join .Imports " "}}' "$mod/$bin" | grep -E " $b( |\$)" | cut -d' ' -f1 | sed "s|$mod/||" | tr '\n' ' ')" >&2
		done
		fail=1
	fi
done
exit $fail
