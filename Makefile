# The two set-up commands: `make demo` and `make test`. Each installs what is
# missing (scripts/install-deps), builds, and runs. `make test` also holds the
# habits of docs/adr/0029-ci-habits.md: the format check, clang-tidy on the files
# changed against the previous main, and a short run of every fuzz target;
# `make lint` and `make fuzz` are their long forms.
JOBS ?= 2
RELEASE_DIR := build
TEST_DIR := build-test
FUZZ_DIR := build-fuzz
# Seconds per fuzz target: a smoke run in make test, a campaign in make fuzz.
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS ?= 600

.PHONY: deps release deb test-configure test-build demo test format-check lint-changed lint \
	fuzz-smoke fuzz bench bench-cluster clean

deps:
	scripts/install-deps

release: deps
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ >/dev/null
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target coffre

# The Debian package (docs/adr/0031-debian-package.md), from the Release
# build: $(RELEASE_DIR)/coffre_VERSION_amd64.deb.
deb: release
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target coffre man_pages
	cd $(RELEASE_DIR) && cpack -G DEB
	@ls $(RELEASE_DIR)/coffre_*_amd64.deb

test-configure: deps
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOFFRE_SANITIZE=ON -DCOFFRE_TEST_HOOKS=ON -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null

test-build: test-configure
	cmake --build $(TEST_DIR) -j$(JOBS)

demo: release
	scripts/demo $(RELEASE_DIR)/coffre

# In this order: the format check fails fast; ctest's summary closes the output.
test: format-check test-build lint-changed fuzz-smoke
	cd $(TEST_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900

format-check: deps
	scripts/check-format

# clang-tidy (.clang-tidy) on the files changed against the previous main
# (scripts/lint says how it finds it); `make lint` on every file.
lint-changed: test-build
	JOBS=$(JOBS) LINT_BUILD_DIR=$(CURDIR)/$(TEST_DIR) scripts/lint

# Every file: after the build, whose generated headers (openapi_json.h) it reads.
lint: test-build
	JOBS=$(JOBS) LINT_BUILD_DIR=$(CURDIR)/$(TEST_DIR) scripts/lint --all

# Every fuzz target on its checked-in corpus (tests/fuzz/corpus/<target>/), in
# $(FUZZ_DIR): briefly in make test; for FUZZ_SECONDS each in make fuzz, new
# inputs kept in $(FUZZ_DIR)/fuzz-work/ (scripts/fuzz --merge picks the ones
# worth adding to the corpus).
fuzz-smoke: deps
	JOBS=$(JOBS) FUZZ_BUILD_DIR=$(CURDIR)/$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) scripts/fuzz --smoke

fuzz: deps
	JOBS=$(JOBS) FUZZ_BUILD_DIR=$(CURDIR)/$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz --long

bench: release
	scripts/install-deps --bench
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target import_bench breach_bench
	bench/run-all $(RELEASE_DIR)

# bench/cluster alone (issue 16: the PostgreSQL store against a plain COPY and
# against PostgreSQL + pgcrypto, GET through two nodes against the embedded
# vault), on a PostgreSQL 15 it starts itself; `make bench` runs it too.
bench-cluster: release
	scripts/install-deps --bench
	bench/cluster/run $(RELEASE_DIR)

clean:
	rm -rf $(RELEASE_DIR) $(TEST_DIR) $(FUZZ_DIR) demo
