# room: set up, run the main job, run the tests.
# `make run` and `make test` set everything up first (system GL libraries, a .venv).
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= learn,cluster,notebooks,dev,cycles
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0 libosmesa6 libglu1-mesa
# Extra cycles (Blender's bpy, render.backend=cycles): the X/GL client libraries bpy links
# (ldd of bpy 4.5.15 on Debian 12; it opens no display) ...
CYCLES_PACKAGES := libx11-6 libxext6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libxt6
CYCLES_LIBS := libX11.so.6 libXext.so.6 libXrender.so.1 libXfixes.so.3 libXi.so.6 \
  libxkbcommon.so.0 libSM.so.6 libXt.so.6
# ... and bpy itself, installed without its declared dependencies: every bpy for Python 3.11
# declares numpy<2, which would downgrade numpy; room uses none of bpy's numpy-built parts (its
# bundled OpenImageIO/OpenColorIO Python bindings). The same pin is the extra in pyproject.toml.
BPY_VERSION := 4.5.15
WITH_CYCLES := $(findstring cycles,$(EXTRAS))
comma := ,
space := $(subst x,,x x)
PIP_EXTRAS := $(subst $(space),$(comma),$(filter-out cycles,$(subst $(comma),$(space),$(EXTRAS))))
SYS_PACKAGES := $(GL_PACKAGES) $(if $(WITH_CYCLES),$(CYCLES_PACKAGES))
SYS_LIBS := libEGL_mesa libOSMesa $(if $(WITH_CYCLES),$(CYCLES_LIBS))

.PHONY: setup system-deps run test test-fast lint bench figures clean

setup: system-deps $(VENV)/.installed

# Headless OpenGL (EGL on Mesa llvmpipe or a GPU; OSMesa as fallback), and bpy's client
# libraries when EXTRAS has cycles. Needs root or sudo.
system-deps:
	@missing=0; for lib in $(SYS_LIBS); do ldconfig -p | grep -q "$$lib" || missing=1; done; \
	if [ $$missing = 0 ]; then \
	  echo "system libraries present"; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYS_PACKAGES); \
	else \
	  echo "install these system libraries by hand: $(SYS_PACKAGES)"; exit 1; \
	fi

$(VENV)/.installed: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(PIP_EXTRAS)]"
	$(if $(WITH_CYCLES),$(BIN)/python -m pip install -q --no-deps bpy==$(BPY_VERSION))
	touch $@

# The main job: a small multi-modal dataset on the built-in phantom.
run: setup
	$(BIN)/room-generate

# The whole suite (what CI runs). ROOM_TEST_REQUIRE_GL: a missing GL platform fails, not skips.
test: setup
	$(BIN)/ruff check room tests benchmarks _room_gymnasium.py setup.py
	ROOM_TEST_REQUIRE_GL=1 $(BIN)/python -m pytest -q

# For development: everything but the tests marked slow (end to end, notebooks, CLIs, training).
test-fast: setup
	$(BIN)/ruff check room tests benchmarks _room_gymnasium.py setup.py
	ROOM_TEST_REQUIRE_GL=1 $(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check room tests benchmarks _room_gymnasium.py setup.py

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Regenerate the README's pictures (docs/images/*.png).
figures: setup
	$(BIN)/python -m room.cli.figures --out docs/images

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
