# Two commands do all set-up on a fresh machine (README):
#   make demo   the voice-chat example on the embedded local server
#   make test   the test suite, with PulseAudio virtual devices for the real device path
# Both create .venv and install what is missing (pip packages, and Debian packages when root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@bash scripts/install-system-deps.sh

# Two bots join by default, so a person alone hears a real room; ARGS adds options.
DEMO_ARGS ?= --bots 2
demo: $(STAMP) system-deps
	$(BIN)/python examples/voice_chat.py $(DEMO_ARGS) $(ARGS)

test: $(STAMP) system-deps
	bash scripts/with-pulseaudio.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check zego_py mock_server tests examples bench
	$(BIN)/mypy zego_py mock_server

# The bench extra (matplotlib, pesq) only for this target.
bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
