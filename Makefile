# room: set up, run the main job, run the tests.
# `make run` and `make test` set everything up first (system GL libraries, a .venv).
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= learn,cluster,notebooks,dev
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0 libosmesa6 libglu1-mesa

.PHONY: setup system-deps run test test-fast lint bench figures clean

setup: system-deps $(VENV)/.installed

# Headless OpenGL (EGL on Mesa llvmpipe or a GPU; OSMesa as fallback). Needs root or sudo.
system-deps:
	@if ldconfig -p | grep -q libEGL_mesa && ldconfig -p | grep -q libOSMesa; then \
	  echo "GL libraries present"; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(GL_PACKAGES); \
	else \
	  echo "install these system libraries by hand: $(GL_PACKAGES)"; exit 1; \
	fi

$(VENV)/.installed: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
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
