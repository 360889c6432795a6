# asyncvla: make demo | make test | make bench
BUILD ?= build
JOBS ?= $(shell nproc)
WERROR ?= $(or $(ASYNCVLA_WERROR),OFF)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DASYNCVLA_WERROR=$(WERROR)

.PHONY: setup configure build test bench demo fuzz sanitize clean format

setup:
	bash scripts/setup.sh

configure: setup
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: configure
	cmake --build $(BUILD) -j$(JOBS) --target asyncvla bench_model bench_sim
	bash bench/run_bench.sh $(BUILD)

demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target asyncvla
	bash scripts/demo.sh $(BUILD)

# reliability (docs/RELIABILITY.md): libFuzzer on every parser, and the test suite under
# ASan + UBSan, both from a clang build in build-fuzz. FUZZ_RUNS per target
FUZZ_RUNS ?= 1000000
fuzz:
	bash scripts/fuzz.sh $(FUZZ_RUNS)

sanitize:
	bash scripts/sanitize.sh

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
