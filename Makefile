# RTX build, install and test entry points. `make help` lists them.
#   make run      set up, fetch the default model, build, generate text with it
#   make test     set up, fetch models, build, run every test suite
SHELL := /bin/bash
PREFIX ?= /usr/local
VERSION := 0.2.0
SOVERSION := 0
PYTHON ?= python3
SWIFT ?= swift
BUILD := build
LIBDIR := $(BUILD)/lib
MODEL := .models/SmolLM2-135M-Instruct.Q4_1.gguf
# Release builds of librtx.so / the CLI: the Swift runtime is linked statically so
# C and Python consumers need no Swift toolchain; the export map keeps only rtx_*.
SWIFT_RELEASE := $(SWIFT) build -c release --scratch-path .build-release -Xswiftc -static-stdlib
LIB_LINK := -Xlinker --version-script=$(CURDIR)/scripts/exports.map -Xlinker -soname=librtx.so.$(SOVERSION)

.PHONY: help setup models lib cli server build install run test test-kernels test-swift test-c test-python test-server clean
.PHONY: test-package test-swift-dependency test-kernels-sanitized fuzz test-fuzz test-sanitizers

help:
	@echo "make run | test | build | lib | cli | server | install PREFIX=... | setup | models | clean"

setup:
	scripts/setup.sh

GEMMA := .models/gemma-3-270m.Q4_K_M.gguf
models: $(MODEL) $(GEMMA)
$(MODEL):
	scripts/fetch-models.sh smollm2
$(GEMMA):
	scripts/fetch-models.sh gemma3

lib:
	$(SWIFT_RELEASE) --product rtx $(LIB_LINK)
	@mkdir -p $(LIBDIR)/pkgconfig $(BUILD)/include
	cp .build-release/release/librtx.so $(LIBDIR)/librtx.so.new && mv -f $(LIBDIR)/librtx.so.new $(LIBDIR)/librtx.so.$(VERSION)
	ln -sf librtx.so.$(VERSION) $(LIBDIR)/librtx.so.$(SOVERSION)
	ln -sf librtx.so.$(SOVERSION) $(LIBDIR)/librtx.so
	cp include/rtx.h $(BUILD)/include/rtx.h
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@VERSION@|$(VERSION)|' scripts/rtx.pc.in > $(LIBDIR)/pkgconfig/rtx.pc

cli:
	$(SWIFT_RELEASE) --product rtx-cli
	@mkdir -p $(BUILD)/bin
	# Replace, not overwrite: a running rtx (a benchmark) keeps its old file.
	cp .build-release/release/rtx-cli $(BUILD)/bin/rtx.new && mv -f $(BUILD)/bin/rtx.new $(BUILD)/bin/rtx

# The OpenAI-compatible HTTP server (Hummingbird; the only target that links SwiftNIO).
server:
	$(SWIFT_RELEASE) --product rtx-server
	@mkdir -p $(BUILD)/bin
	cp .build-release/release/rtx-server $(BUILD)/bin/rtx-server.new && mv -f $(BUILD)/bin/rtx-server.new $(BUILD)/bin/rtx-server

build: lib cli

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(LIBDIR)/librtx.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf librtx.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/librtx.so.$(SOVERSION)
	ln -sf librtx.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/librtx.so
	install -m 644 include/rtx.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/bin/rtx $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' scripts/rtx.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/rtx.pc

# The main job: generate text with the default model.
run: setup models cli
	$(BUILD)/bin/rtx generate -m $(MODEL) --chat -p "What is a recursive transformer? Answer in two sentences." -n 96 --temp 0

# ---- tests ------------------------------------------------------------------
test: setup models build
	$(MAKE) test-kernels test-swift test-c test-python test-server test-package test-swift-dependency test-fuzz test-sanitizers

test-kernels:
	@mkdir -p $(BUILD)/tests
	$(PYTHON) Tests/c/gen_quant_vectors.py $(BUILD)/tests/quant_vectors.bin
	# Swift's clang: -Xclang -fopenmp (its driver would add a -lomp that Debian lacks).
	clang -O2 -Xclang -fopenmp -Wall -Wextra -I Sources/CRTXKernels/include Sources/CRTXKernels/*.c Tests/c/test_kernels.c \
	   -o $(BUILD)/tests/test_kernels -l:libomp.so.5 -lopenblas -llapacke -lm
	$(BUILD)/tests/test_kernels $(BUILD)/tests/quant_vectors.bin

# The kernel test under AddressSanitizer + UndefinedBehaviorSanitizer (leaks too):
# every kernel on every dispatch path, any finding fatal.
test-kernels-sanitized:
	@mkdir -p $(BUILD)/tests
	$(PYTHON) Tests/c/gen_quant_vectors.py $(BUILD)/tests/quant_vectors.bin
	clang -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -Xclang -fopenmp \
	   -Wall -Wextra -I Sources/CRTXKernels/include Sources/CRTXKernels/*.c Tests/c/test_kernels.c \
	   -o $(BUILD)/tests/test_kernels_sanitized -l:libomp.so.5 -lopenblas -llapacke -lm
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/tests/test_kernels_sanitized $(BUILD)/tests/quant_vectors.bin

test-swift: models
	RTX_TEST_MODEL=$(abspath $(MODEL)) $(SWIFT) test --no-parallel

test-c: models
	rm -rf $(BUILD)/install $(BUILD)/tests/bad $(BUILD)/tests/bad-hf
	$(MAKE) install PREFIX=$(abspath $(BUILD))/install
	$(PYTHON) Tests/data/make_bad_gguf.py $(BUILD)/tests/bad > /dev/null
	$(PYTHON) Tests/data/make_bad_hf.py $(BUILD)/tests/bad-hf > /dev/null
	PKG_CONFIG_PATH=$(abspath $(BUILD))/install/lib/pkgconfig; export PKG_CONFIG_PATH; \
	cc -std=c11 -Wall -Wextra -o $(BUILD)/tests/test_capi Tests/c/test_capi.c $$(pkg-config --cflags --libs rtx) \
	   -Wl,-rpath,$(abspath $(BUILD))/install/lib && \
	$(MAKE) -C examples/c PKG_CONFIG_PATH=$$PKG_CONFIG_PATH
	$(BUILD)/tests/test_capi $(MODEL) $(BUILD)/tests/bad $(BUILD)/tests/bad-hf

test-python: models
	PYTHONPATH=bindings/python RTX_LIBRARY=$(abspath $(LIBDIR))/librtx.so RTX_TEST_MODEL=$(abspath $(MODEL)) \
	RTX_CLI=$(abspath $(BUILD))/bin/rtx $(PYTHON) -m pytest -q Tests/python

# rtx-server against the official openai client on 127.0.0.1 (a free port).
test-server: models cli server
	RTX_SERVER=$(abspath $(BUILD))/bin/rtx-server RTX_CLI=$(abspath $(BUILD))/bin/rtx RTX_TEST_MODEL=$(abspath $(MODEL)) \
	$(PYTHON) -m pytest -q Tests/server

# The wheel of bindings/python carries librtx.so: install it in a fresh venv, run it elsewhere.
test-package: models
	PYTHON=$(PYTHON) Tests/packaging/test_fresh_venv.sh $(MODEL)

# A Swift app depending on a snapshot of HEAD by file:// URL (branch, revision), by path,
# and pinned to a version (refused: unsafeFlags).
test-swift-dependency: models
	PYTHON=$(PYTHON) SWIFT=$(SWIFT) Tests/packaging/test_swift_dependency.sh $(MODEL)

# ---- hardening (Tests/hardening) --------------------------------------------------
# libFuzzer targets with AddressSanitizer; FUZZ_SECONDS per target. A long run:
#   make fuzz FUZZ_SECONDS=3600
FUZZ_SECONDS ?= 60
fuzz: models
	SWIFT=$(SWIFT) PYTHON=$(PYTHON) RTX_CLI=$(abspath $(BUILD))/bin/rtx Tests/hardening/run-fuzz.sh $(FUZZ_SECONDS)

# CI's short run of every target (and every committed regression input).
test-fuzz: models
	$(MAKE) fuzz FUZZ_SECONDS=20

# ASan + UBSan librtx.so under the C ABI test and a Python subset; TSan stress.
test-sanitizers: models test-kernels-sanitized
	SWIFT=$(SWIFT) PYTHON=$(PYTHON) Tests/hardening/run-sanitizers.sh $(MODEL)

clean:
	rm -rf $(BUILD) .build .build-release .build-asan bindings/python/build bindings/python/rtx.egg-info examples/c/simple
