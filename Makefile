# The two set-up commands: `make demo` and `make test`. Each installs what is
# missing (scripts/install-deps), builds, and runs.
JOBS ?= 2
RELEASE_DIR := build
TEST_DIR := build-test

.PHONY: deps release test-build demo test bench clean

deps:
	scripts/install-deps

release: deps
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ >/dev/null
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target coffre

test-build: deps
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOFFRE_SANITIZE=ON -DCOFFRE_TEST_HOOKS=ON -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
	cmake --build $(TEST_DIR) -j$(JOBS)

demo: release
	scripts/demo $(RELEASE_DIR)/coffre

test: test-build
	cd $(TEST_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900

bench: release
	scripts/install-deps --bench
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target import_bench breach_bench
	bench/run-all $(RELEASE_DIR)

clean:
	rm -rf $(RELEASE_DIR) $(TEST_DIR) demo
