# tsim - teacher-student training dynamics on MPI.
#
#   make            build bin/tsim
#   make check      the whole test suite (what CI runs): unit, MPI, end-to-end,
#                   and the same suite under AddressSanitizer + UBSan
#   make test       the suite once, normal build
#   make test-sanitize   the suite with -fsanitize=address,undefined
#   make deps       install (as root) or print the missing Debian packages
#   make bench      performance figures (out/bench/bench.csv), never a test
#   make figures RUN=out/NAME   paper figures into out/NAME/figures, summary.md into out/NAME
#   make plot RUN=out/NAME Y=train_loss X=t BY=K   any column, into out/NAME/figures
#
# Site overrides: CC, CFLAGS, YAML_CFLAGS, YAML_LIBS, BLAS_LIBS, MPIRUN,
# SCALAPACK_LIBS (ScaLAPACK with BLACS), LAPACK_LIBS (LAPACK, LAPACKE, BLAS).

CC        ?= mpicc
ifeq ($(origin CC),default)
CC        := mpicc
endif
CFLAGS    ?= -O2 -g
BUILD     ?= build
BIN       ?= bin
PKG_CONFIG ?= pkg-config
YAML_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags yaml-0.1 2>/dev/null)
YAML_LIBS   ?= $(shell $(PKG_CONFIG) --libs yaml-0.1 2>/dev/null || echo -lyaml)
BLAS_LIBS   ?=
SCALAPACK_LIBS ?= -lscalapack-openmpi
LAPACK_LIBS ?= -llapacke -llapack -lblas

GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

# Reproducible floating point: no fast-math, no contraction into FMA, so the
# bits depend on the source and the compiler, not on the CPU's features.
FPFLAGS   := -ffp-contract=off -fno-fast-math
# -Wswitch-enum: a switch over an enum names every value (a new activation
# is a warning wherever it is not handled yet, default or not)
WARN      := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wswitch-enum
ALL_CPPFLAGS := -Iinclude -D_GNU_SOURCE $(YAML_CFLAGS) \
                -DTSIM_GIT_COMMIT='"$(GIT_COMMIT)"' -DTSIM_CFLAGS='"$(CFLAGS)"'
ALL_CFLAGS := $(WARN) $(FPFLAGS) $(CFLAGS) $(SANFLAGS)
LDLIBS    := $(YAML_LIBS) $(SCALAPACK_LIBS) $(LAPACK_LIBS) $(BLAS_LIBS) -lm -pthread
# the fused chunk kernel's and the Gram engine's loops are vectorised at -O3
# (bits unchanged: see src/fused.c); FUSED_CFLAGS= builds them with CFLAGS alone
FUSED_CFLAGS ?= -O3

# Stamps: a file holding a text, rewritten (when make reads this file) only
# when the text changes, so that what depends on it is rebuilt then and only
# then. The commit: the objects that print it (tsim --version, manifest.json
# git_commit) would otherwise name the commit of their last build. The
# flags: every object is rebuilt when the compiler or the flags change
# (`make CFLAGS=-O0` after a build), as the manifest's cflags says.
stamp_text = $(subst ',,$(2))
stamp = $(shell mkdir -p $(dir $(1)) && { printf '%s\n' '$(call stamp_text,,$(2))' | cmp -s - $(1) || printf '%s\n' '$(call stamp_text,,$(2))' > $(1); })
COMMIT_STAMP := $(BUILD)/commit.stamp
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_TEXT := $(CC) $(CFLAGS) $(SANFLAGS) $(FUSED_CFLAGS) $(YAML_CFLAGS)
$(call stamp,$(COMMIT_STAMP),$(GIT_COMMIT))
$(call stamp,$(FLAGS_STAMP),$(FLAGS_TEXT))

LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all clean test test-sanitize check deps bench figures plot
all: $(BIN)/tsim $(UNIT_BIN)

$(BUILD)/%.o: src/%.c $(wildcard include/tsim/*.h) $(FLAGS_STAMP) | $(BUILD)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/fused.o $(BUILD)/engine_gram.o: ALL_CFLAGS += $(FUSED_CFLAGS)
$(BUILD)/fused.o: src/fused_kernel.inc src/act_vector.inc
$(BUILD)/activation.o: src/act_vector.inc

$(BUILD)/output.o $(BUILD)/merge.o $(BUILD)/main.o: $(COMMIT_STAMP)
# remade when `make clean` removed them after they were written
$(COMMIT_STAMP):
	@mkdir -p $(@D) && printf '%s\n' '$(call stamp_text,,$(GIT_COMMIT))' > $@
$(FLAGS_STAMP):
	@mkdir -p $(@D) && printf '%s\n' '$(call stamp_text,,$(FLAGS_TEXT))' > $@

$(BUILD)/libtsim.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BIN)/tsim: $(BUILD)/main.o $(BUILD)/libtsim.a | $(BIN)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(BUILD)/libtsim.a $(FLAGS_STAMP) | $(BUILD)/tests
	$(CC) $(ALL_CPPFLAGS) -Itests/unit $(ALL_CFLAGS) $< $(BUILD)/libtsim.a -o $@ $(LDLIBS)

# the Hessian benchmark driver (scripts/bench.sh), not part of `all`
$(BUILD)/bench_hessian: scripts/bench_hessian.c $(BUILD)/libtsim.a $(FLAGS_STAMP) | $(BUILD)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $< $(BUILD)/libtsim.a -o $@ $(LDLIBS)

$(BUILD) $(BIN) $(BUILD)/tests:
	mkdir -p $@

deps:
	@scripts/deps.sh

test: deps all
	@BUILD=$(BUILD) BIN=$(BIN) tests/run_all.sh

test-sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san BIN=bin-san \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" all
	@BUILD=build-san BIN=bin-san TSIM_SANITIZE=1 tests/run_all.sh

check: test test-sanitize

# the gallery (docs/gallery.md): run each paper's config, draw, copy small PNGs to docs/gallery/
.PHONY: gallery
gallery: deps $(BIN)/tsim
	scripts/gallery.sh $(GALLERY_ARGS)

# the paper's figures and summary.md for a run directory: make figures RUN=out/NAME
PYTHON ?= /usr/bin/python3
figures: deps
	@test -n "$(RUN)" || { echo "usage: make figures RUN=out/NAME"; exit 2; }
	$(PYTHON) analysis/plot_run.py $(RUN)

# any column against t or a grid axis, one line per value of BY (median and
# interquartile band over the seeds): make plot RUN=out/NAME Y=train_loss X=t BY=K
plot: deps
	@test -n "$(RUN)" -a -n "$(Y)" || { echo "usage: make plot RUN=out/NAME Y=COLUMN [X=t|AXIS] [BY=AXIS] [WHERE='k=0 seed=1']"; exit 2; }
	@PYTHONPATH=python $(PYTHON) -m tsim plot $(RUN) --y $(Y) $(if $(X),--x $(X)) $(if $(BY),--by $(BY)) $(if $(WHERE),--where "$(WHERE)")

# performance figures: prints a table and writes out/bench/bench.csv
bench: deps $(BIN)/tsim $(BUILD)/bench/machine $(BUILD)/bench_hessian
	@BUILD=$(BUILD) scripts/bench.sh

# the bench's probe of this machine (STREAM triad, multiply-add peak)
$(BUILD)/bench/machine: bench/machine.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O3 -march=native $(FPFLAGS) -D_GNU_SOURCE $< -o $@

clean:
	rm -rf build build-san bin bin-san
