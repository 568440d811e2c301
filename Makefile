# mx-operator — every target works on a fresh machine with only Go, gcc and git: tools are built
# from Go modules (controller-gen through go.mod's tool directive, kustomize into ./bin) and the
# envtest binaries are downloaded or built from source by hack/setup-envtest.sh.

IMG ?= mx-operator:dev
ENVTEST_K8S_VERSION ?= 1.37.1
KUSTOMIZE_VERSION ?= v5.8.2
LOCALBIN ?= $(CURDIR)/bin
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= go tool controller-gen
# Extra flags for go test, e.g. make test GOTEST_FLAGS='-run TestFoo -v'.
GOTEST_FLAGS ?=
# A separate Go module that uses pkg/mxtest as another project would; test, vet and verify cover it.
EXAMPLE_MODULE := examples/onboarding
export ENVTEST_K8S_VERSION

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs (descriptions re-flowed for kubectl explain), their copy embedded in pkg/mxtest/crds, and the RBAC role from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-descriptions config/crd/bases/*.yaml
	rm -f pkg/mxtest/crds/*.yaml
	cp config/crd/bases/*.yaml pkg/mxtest/crds/

.PHONY: generate
generate: ## Generate the deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -s -w $$(git ls-files -co --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet (this module and examples/onboarding).
	go vet ./...
	cd $(EXAMPLE_MODULE) && go vet ./...

.PHONY: envtest
envtest: ## Make kube-apiserver, etcd and kubectl available (download, else build from source) and print their directory.
	@hack/setup-envtest.sh

.PHONY: test
test: manifests generate fmt vet ## Regenerate, vet and run every test (unit and envtest), examples/onboarding's too.
	assets="$$(hack/setup-envtest.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" go test ./... -race -count=1 $(GOTEST_FLAGS); \
	cd $(EXAMPLE_MODULE) && KUBEBUILDER_ASSETS="$$assets" go test ./... -race -count=1 $(GOTEST_FLAGS)

.PHONY: bench
bench: ## Run the benchmarks (client against the sandbox; members converged by the real manager) and write bin/bench.txt.
	@mkdir -p $(LOCALBIN)
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./... | tee $(LOCALBIN)/bench.txt

# Pairs (one MXUser and one MXMember each) that make bench-scale converges.
N ?= 1000

.PHONY: bench-scale
bench-scale: ## Scale benchmark: N pairs (N=1000) converged by the real manager binary next to a floor-writing baseline; BENCH_SCALE_FLAGS='--restart-window 10s --quiet-window 10s' for shorter windows.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go run ./hack/bench-scale --pairs $(N) $(BENCH_SCALE_FLAGS)

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything and fail if the tree changed.
	go mod tidy
	cd $(EXAMPLE_MODULE) && go mod tidy
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "The tree changed after regeneration; commit the generated files:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig.
	go run . $(RUN_FLAGS)

.PHONY: demo
demo: ## Run the demo: control plane, MX sandbox and manager; DEMO_FLAGS=--exit-when-settled to exit once settled.
	go run ./hack/demo $(DEMO_FLAGS)

.PHONY: chaos
chaos: ## Crash test: SIGKILL the manager during creates and deletes against a faulty MX sandbox, then count duplicates, orphans and stuck objects; CHAOS_FLAGS='--members 20 --kills 4' for a small run.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go run ./hack/chaos $(CHAOS_FLAGS)

.PHONY: sandbox
sandbox: ## Run the MX sandbox on 127.0.0.1:8089 with its control surface.
	go run ./hack/mx-sandbox --addr 127.0.0.1:8089 --client-id demo-client --api-key demo-key --enable-control $(SANDBOX_FLAGS)

##@ Deployment

KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$$(hack/setup-envtest.sh)/kubectl")

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize from the Go module proxy into ./bin.
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: render
render: manifests kustomize ## Render config/default (what deploy applies) to stdout.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the manager (image IMG) into the cluster of the current kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the manager from the cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -
