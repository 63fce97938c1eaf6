# Convenience entry points over CMake (the build itself is CMakeLists.txt).
#
#   make demo    install deps, build, generate the synthetic data set, train,
#                evaluate (prints the table) and draw the figures
#   make test    install deps, build, run the test suite (ctest -LE slow)
#   make bench   benchmarks of experiments/bench (ratios against python3-torch,
#                scikit-learn)
#   make sanitize / make fuzz   the reliability jobs CI runs
#   make install [PREFIX=/usr/local] [DESTDIR=...]   programs, libddad (shared
#                and static), headers, CMake package, ddad.pc
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps build test test-all demo bench sanitize fuzz clean install

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@ctest --test-dir $(BUILD) -LE slow --output-on-failure -j$(JOBS)

test-all: build
	@ctest --test-dir $(BUILD) --output-on-failure

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@experiments/bench/run.sh $(BUILD)

sanitize:
	@scripts/install-deps.sh
	@.ci/sanitize.sh

fuzz:
	@scripts/install-deps.sh --fuzz
	@.ci/fuzz.sh

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
