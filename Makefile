# asyncvla: make demo | make test | make bench
BUILD ?= build
JOBS ?= $(shell nproc)
WERROR ?= $(or $(ASYNCVLA_WERROR),OFF)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DASYNCVLA_WERROR=$(WERROR)

.PHONY: setup configure build test bench demo clean format

setup:
	bash scripts/setup.sh

configure: setup
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j1

bench: configure
	cmake --build $(BUILD) -j$(JOBS) --target asyncvla bench_model bench_sim
	bash bench/run_bench.sh $(BUILD)

demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target asyncvla
	bash scripts/demo.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
