# kaas: Kubernetes-as-a-Service for VMware Cloud Director.
#
#   make run     bring the whole system up on this machine
#   make run-ha  the same as a provider runs it: three NATS nodes, three kaasd
#   make test    run every test CI runs (starts RabbitMQ if needed)
#   make drill   the failure drills in full (kaasd, NATS and RabbitMQ failures during
#                bursts of creates) and the table of what they counted
#   make lint    gofmt, go vet, and the package import rules
#   make bench   measure P1-P7 (request path, fleet reads, appends, provisioning, time to a
#                ready cluster, memory and start-up) against their ceilings; bin/bench.json
#   make fuzz    fuzz the decoders (FUZZTIME per target, default 30s)
#   make monitoring  check the alert rules and their tests with promtool
#   make units   check the systemd units in deploy/systemd with systemd-analyze verify

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export GOTOOLCHAIN := local
FUZZTIME ?= 30s
KAAS_DATA_DIR ?= ./data

.PHONY: run run-ha test drill lint bench fuzz build rabbitmq monitoring units clean

rabbitmq:
	@./deploy/scripts/ensure-rabbitmq.sh

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# kaasd, kaasctl, vcdsim and kaas-bench in bin/, stamped with the version.
build:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X github.com/kaasproject/kaas/deploy/kaasd.Version=$(VERSION)" -o bin/ ./deploy/cmd/...

run:
	GO=$(GO) KAAS_DATA_DIR=$(KAAS_DATA_DIR) ./deploy/scripts/run.sh

run-ha:
	GO=$(GO) KAAS_DATA_DIR=$(KAAS_DATA_DIR) ./deploy/scripts/run-ha.sh

test: rabbitmq lint monitoring
	@./deploy/scripts/ensure-pyyaml.sh
	@./deploy/scripts/ensure-systemd-analyze.sh
	$(GO) test -count=1 -timeout 12m ./...

# All five drills with 100 creates each (make test runs two with 20), then the table of
# what they did and counted (also in bin/drill.md). Set KAAS_DRILL_LOGS=dir to keep the
# processes' logs; a failed drill keeps them anyway and says where.
drill: rabbitmq
	@mkdir -p bin && rm -f bin/drill.md
	@status=0; KAAS_DRILL=full KAAS_DRILL_TABLE=$(CURDIR)/bin/drill.md \
		$(GO) test -count=1 -timeout 60m -v -run '^TestDrills$$' ./deploy/drill/ || status=$$?; \
		if [ -f bin/drill.md ]; then echo; cat bin/drill.md; fi; exit $$status

# The alert rules, their tests and the example scrape config, checked by promtool.
monitoring:
	@./deploy/scripts/ensure-promtool.sh
	promtool check rules deploy/monitoring/alerts.yml
	promtool test rules deploy/monitoring/alerts_test.yml
	promtool check config deploy/monitoring/prometheus.yml

# The systemd units (systemd-analyze verify, any warning fails) and the example settings
# (kaasd accepts them). Part of `go test`, hence of make test, which installs systemd-analyze
# when it is missing, as this does.
units:
	@./deploy/scripts/ensure-systemd-analyze.sh
	$(GO) test -count=1 -run '^TestSystemd' -v ./deploy/cmd/kaasd/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@./deploy/scripts/check-imports.sh
	@./deploy/scripts/lint-shell.sh

# The figures also go to bin/bench.json, with CPU profiles of the request path's create at 64
# in flight (bin/bench-create.pprof) and of one create's provisioning (bin/bench-provision.pprof).
bench: rabbitmq
	@mkdir -p bin
	$(GO) run ./deploy/cmd/kaas-bench -out bin/bench.json -cpuprofile bin/bench-create.pprof -provision-cpuprofile bin/bench-provision.pprof

fuzz:
	$(GO) test ./events/ -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./events/cse/ -run '^$$' -fuzz '^FuzzDecodeEntity$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingress/vcdext/ -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingress/vcdext/ -run '^$$' -fuzz '^FuzzDecodeFastPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./projector/ -run '^$$' -fuzz '^FuzzBinDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingress/vcdext/ -run '^$$' -fuzz '^FuzzFindRepeatedKey$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingress/ -run '^$$' -fuzz '^FuzzRequestBodies$$' -fuzztime $(FUZZTIME)
	$(GO) test ./events/recipe/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executors/bootstrap/ -run '^$$' -fuzz '^FuzzParseJoin$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executors/bootstrap/ -run '^$$' -fuzz '^FuzzRenderKeepsShape$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(KAAS_DATA_DIR)
