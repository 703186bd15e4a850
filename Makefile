PY ?= python3
OUT ?= out

.PHONY: install demo test bench results

install:
	bash scripts/setup.sh

# The README's first command: set everything up, then separate the bundled example song.
demo: install
	stemscribe separate examples/example.flac -o $(OUT) --report --overwrite
	@echo "demo: stems, MIDI, activity and report written to $(OUT)/example/"

# The README's second command (and what CI runs).
test: install
	$(PY) -m pytest tests

bench: install
	stemscribe benchmark

results: install
	stemscribe evaluate --data data/test --out results --markdown docs/RESULTS.md
