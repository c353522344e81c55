# mm1conv — set-up, sample run and tests. See README.md.
SHELL := /bin/bash
# Python for interop checks and fixture generation lives outside the repository.
VENV ?= /opt/mm1py
PY := $(VENV)/bin/python
APT_PACKAGES := libhdf5-dev libzstd-dev libopenblas-dev pkg-config
PIP_PACKAGES := numpy safetensors ml_dtypes jsonschema gguf
# The runtimes that load the exports (Tests/Interop/check_runtimes.py). llama-cpp-python builds llama.cpp
# from source (about 6 minutes on 2 cores): for a portable x86-64 CPU with AVX2 (a native build here picked
# AMX instructions the VM refuses).
PIP_RUNTIMES := mlx==0.32.4 mlx-cpu==0.32.4 mlx-lm==0.32.2 llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
	$(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)
INTEROP_DIR ?= $(CURDIR)/.build/interop

PREFIX ?= /usr/local

.PHONY: setup setup-interop sample test install swift-test interop fixtures bench loader-sample

## What the tool needs: the system libraries (apt as root, brew on macOS). Nothing from PyPI.
setup:
	@if [ "$$(uname)" = Darwin ]; then brew install hdf5 zstd pkg-config; \
	elif ! pkg-config --exists hdf5 libzstd openblas 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi; fi

## What the tests add: the Python readers and the runtimes that load the exports, in a virtual environment
## outside the repository (first use only; llama-cpp-python compiles llama.cpp, about 6 minutes on 2 cores).
setup-interop: setup
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PY) -c "import numpy, safetensors, ml_dtypes, jsonschema, gguf" 2>/dev/null || $(PY) -m pip install -q $(PIP_PACKAGES)
	@$(PY) -c "import mlx.core, mlx_lm, llama_cpp" 2>/dev/null || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip install -q $(PIP_RUNTIMES)

## The release binary into $(PREFIX)/bin (default /usr/local/bin).
install: setup
	swift build -c release --product mm1conv
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 .build/release/mm1conv $(DESTDIR)$(PREFIX)/bin/mm1conv

## The main job on the bundled sample: import the tiny MM1 checkpoint (Honeybee layout) as an MM1 package,
## prove it computes what PyTorch computed, stage by stage, then quantize it to int4 (printing the drift) and
## export that for llama.cpp (GGUF, Q4_0 blocks carried) and MLX.
sample: setup
	swift build -c release --product mm1conv
	.build/release/mm1conv import Samples/tiny-mm1 --out .build/tiny-mm1.mm1 --force
	.build/release/mm1conv inspect --graph .build/tiny-mm1.mm1 | tail -4
	.build/release/mm1conv verify .build/tiny-mm1.mm1 --reference Samples/tiny-mm1/reference.safetensors
	.build/release/mm1conv quantize .build/tiny-mm1.mm1 --int4 --out .build/tiny-mm1-int4.mm1 --force
	.build/release/mm1conv export .build/tiny-mm1-int4.mm1 --format gguf --out .build/tiny-mm1-q4_0.gguf --force
	.build/release/mm1conv export .build/tiny-mm1-int4.mm1 --format mlx --out .build/tiny-mm1-int4-mlx --force

## Every test: Swift tests (which also write files for the interop check), then the Python interop check.
test: setup-interop
	MM1_INTEROP_DIR=$(INTEROP_DIR) swift test
	$(MAKE) loader-sample
	$(PY) Tests/Interop/check_safetensors.py $(INTEROP_DIR)/safetensors
	$(PY) Tests/Interop/check_schemas.py $(INTEROP_DIR)
	$(PY) Tests/Interop/check_gguf.py $(INTEROP_DIR)
	$(PY) Tests/Interop/check_runtimes.py $(INTEROP_DIR)
	@# A few seconds of fuzzing per parser (libFuzzer ships with Swift on Linux): any crash fails the run.
	@if [ "$$(uname)" = Linux ]; then FUZZ_DIR=$(CURDIR)/.build/fuzz-smoke bash Tests/Fuzz/run.sh all 5; fi

## The library used from outside: Samples/Loader, a separate package that imports only MM1Kit, built (in its
## own scratch folder, with this package's dependencies) and run on the sample package, its int4 copy and
## PyTorch's reference activations. It exits non-zero on any mismatch.
LOADER_DIR := $(CURDIR)/.build/loader-sample
loader-sample:
	swift build --product mm1conv
	mkdir -p $(LOADER_DIR)
	.build/debug/mm1conv import Samples/tiny-mm1 --out $(LOADER_DIR)/tiny-mm1.mm1 --force
	.build/debug/mm1conv quantize $(LOADER_DIR)/tiny-mm1.mm1 --int4 --no-verify --out $(LOADER_DIR)/tiny-mm1-int4.mm1 --force
	swift build --package-path Samples/Loader --scratch-path .build/loader --product Loader
	.build/loader/debug/Loader $(LOADER_DIR)/tiny-mm1.mm1 $(LOADER_DIR)/tiny-mm1-int4.mm1 Samples/tiny-mm1/reference.safetensors

## Regenerate golden fixtures and the samples (needs torch, transformers, timm, open_clip and apple/ml-aim's
## sources in AIM_SRC, see generate_aim.py; not part of the tests).
AIM_SRC ?= /tmp/ml-aim/aim-v1
fixtures: setup-interop
	$(PY) -m pip install -q torch transformers timm open_clip_torch huggingface_hub numpy safetensors jsonschema tokenizers sentencepiece
	swift build --product mm1conv
	$(PY) Tests/Fixtures/generate_fixtures.py
	$(PY) Tests/Fixtures/generate_malformed.py
	$(PY) Tests/Fixtures/generate_dialects.py
	$(PY) Tests/Fixtures/generate_aim.py --aim-src $(AIM_SRC)
	$(PY) Tests/Fixtures/generate_forward.py --aim-src $(AIM_SRC) --mm1conv .build/debug/mm1conv
	$(PY) Tests/Fixtures/generate_gguf.py
	$(PY) Tests/Fixtures/generate_gguf_quant.py
	$(PY) Tests/Fixtures/generate_hdf5.py
	$(PY) Tests/Fixtures/generate_zstd.py
	$(PY) Tests/Fixtures/generate_torch_zip.py
	$(PY) Tests/Fixtures/generate_mlx_quant.py
	$(PY) Tests/Fixtures/generate_tokenizer.py
	$(PY) Samples/make_sample.py
	$(PY) Samples/make_tiny_mm1.py
	$(PY) Tests/Fixtures/hash_fixtures.py

## Benchmarks against the Python peers, in one run (see Tests/Benchmarks/run.sh, forward.sh and gguf.sh).
bench: setup-interop
	bash Tests/Benchmarks/run.sh
	bash Tests/Benchmarks/forward.sh
	bash Tests/Benchmarks/gguf.sh
