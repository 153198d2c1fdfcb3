# pgraft: Raft consensus for PostgreSQL.
#
# Two worlds share this Makefile:
#  - the pure layers (src/common, src/core, src/storage, src/app, src/obs) with their tests,
#    simulator, fuzzers and benchmarks, built into $(BUILD)/ WITHOUT the
#    PostgreSQL include path and without linking anything of PostgreSQL:
#    that is what proves boundary rule 1 of STYLE.md.  `make check-unit`
#    works on a machine with no PostgreSQL package at all;
#  - the extension (src/pg), built by PGXS when pg_config is available.
#
# Variants are separate build directories:
#   make BUILD=build-asan SAN=1 check-unit   sanitizers (ASan + UBSan, leaks)
#                                           and invariant checks
#   make BUILD=build-debug DEBUG=1 OPT=-O0   invariant checks alone
#   make BUILD=build-bug-fig8 BUG=PGR_BUG_SKIP_FIG8 build/raft-sim
#     deliberately broken cores that the simulator must catch

BUILD    ?= build
PG_CONFIG ?= pg_config
HAVE_PG  := $(shell $(PG_CONFIG) --version >/dev/null 2>&1 && echo yes)
CC       ?= cc
OPT      ?= -O2
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# The sanitizer and debug builds also check the invariants written next to
# the fields of src/core/raft.h and src/storage/internal.h.
PURE_CFLAGS = -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -D_POSIX_C_SOURCE=200809L \
	-Iinclude $(if $(BUG),-D$(BUG)) $(if $(SAN),$(SANFLAGS)) \
	$(if $(SAN)$(DEBUG),-DPGR_CHECK_INVARIANTS)
PURE_LDFLAGS = $(if $(SAN),$(SANFLAGS))

COMMON_SRCS  := $(wildcard src/common/*.c)
CORE_SRCS    := $(wildcard src/core/*.c)
STORAGE_SRCS := $(wildcard src/storage/*.c)
APP_SRCS     := $(wildcard src/app/*.c)
OBS_SRCS     := $(wildcard src/obs/*.c)
TLS_SRCS     := $(wildcard src/tls/*.c)
COMMON_OBJS  := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
APP_OBJS     := $(APP_SRCS:%.c=$(BUILD)/%.o)
OBS_OBJS     := $(OBS_SRCS:%.c=$(BUILD)/%.o)
CORE_OBJS    := $(CORE_SRCS:%.c=$(BUILD)/%.o)
STORAGE_OBJS := $(STORAGE_SRCS:%.c=$(BUILD)/%.o)
SIM_SRCS     := $(wildcard test/sim/*.c)
UNIT_TESTS   := $(patsubst test/unit/%.c,$(BUILD)/%,$(filter-out test/unit/harness.c,$(wildcard test/unit/test_*.c)))
# bench_crc32c compares with PostgreSQL's CRC-32C, so it needs PostgreSQL.
BENCHES      := $(patsubst bench/%.c,$(BUILD)/%,$(filter-out bench/bench_crc32c.c,$(wildcard bench/bench_*.c)))

.DEFAULT_GOAL := everything
.PHONY: everything
everything: all-pure $(if $(HAVE_PG),all)
.PHONY: all-pure check-unit check-sim bench-core

all-pure: $(BUILD)/raft-sim $(UNIT_TESTS) $(BENCHES)

PURE_HDRS := $(wildcard include/pgraft/*.h src/common/*.h src/core/*.h src/storage/*.h)
$(BUILD)/%.o: %.c $(PURE_HDRS) $(wildcard test/unit/*.h test/sim/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -c $< -o $@

$(BUILD)/libpgr_core.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpgr_storage.a: $(STORAGE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpgr_common.a: $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpgr_app.a: $(APP_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpgr_obs.a: $(OBS_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/raft-sim: $(SIM_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libpgr_app.a $(BUILD)/libpgr_core.a \
	$(BUILD)/libpgr_common.a
	$(CC) $(PURE_LDFLAGS) -o $@ $^ -lm

PURE_LIBS := $(BUILD)/libpgr_obs.a $(BUILD)/libpgr_app.a $(BUILD)/libpgr_storage.a $(BUILD)/libpgr_core.a \
	$(BUILD)/libpgr_common.a

$(BUILD)/test_%: $(BUILD)/test/unit/test_%.o $(BUILD)/test/unit/harness.o $(PURE_LIBS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^ -lm

$(BUILD)/bench_%: $(BUILD)/bench/bench_%.o $(PURE_LIBS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^ -lm

# Run every unit test binary; each prints "N passed, M failed".
check-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# Further rules of one concern each (storage tool, fuzzers, ...).
include $(wildcard mk/*.mk)

check-sim: $(BUILD)/raft-sim
	$(BUILD)/raft-sim --seeds 1-200 --nodes 3

# The sources' layout: clang-format for the pure layers, pgindent's style
# for src/pg (scripts/format says how); format-check is what CI runs.
.PHONY: format format-check
format:
	scripts/format
format-check:
	scripts/format --check

# Everything built lives in build directories (the extension's too).
.PHONY: clean
clean:
	rm -rf build build-*

# ---------------------------------------------------------------------------
# The extension, built by PGXS (src/pg/Makefile) in a build directory per
# PostgreSQL installation, build/pg<major>, which starts afresh when
# PG_CONFIG names another installation of that major version.  Without
# pg_config only the pure targets above exist.
# ---------------------------------------------------------------------------
ifeq ($(HAVE_PG),yes)
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PGBUILD  := $(BUILD)/pg$(PG_MAJOR)
PG_ID    := $(shell $(PG_CONFIG) --bindir) $(shell $(PG_CONFIG) --version)
ifneq ($(PG_ID),$(shell cat $(PGBUILD)/pg_config.id 2>/dev/null))
$(shell rm -rf $(PGBUILD) && mkdir -p $(PGBUILD) && echo '$(PG_ID)' > $(PGBUILD)/pg_config.id)
endif
# the sub-make runs elsewhere: a relative PG_CONFIG must become absolute
EXT_MAKE = $(MAKE) -C $(PGBUILD) -f $(CURDIR)/src/pg/Makefile VPATH=$(CURDIR) \
	PG_CONFIG='$(if $(findstring /,$(PG_CONFIG)),$(abspath $(PG_CONFIG)),$(PG_CONFIG))' \
	PGRAFT_DUMP=$(CURDIR)/$(BUILD)/pgraft_dump

.PHONY: all install installcheck
all:
	+$(EXT_MAKE) all
install: all $(BUILD)/pgraft_dump
	+$(EXT_MAKE) install
installcheck:
	+$(EXT_MAKE) installcheck

# The benchmarks that need PostgreSQL: the libpq client of
# bench/cluster-bench, and the CRC-32C comparison with libpgport's (in
# --pkglibdir on Debian, --libdir in a plain installation).  They depend on
# the installation's id, so another PG_CONFIG relinks them.
all-pure: $(BUILD)/failover_client $(BUILD)/bench_crc32c
$(BUILD)/failover_client: bench/failover_client.c $(PGBUILD)/pg_config.id
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< -L$(shell $(PG_CONFIG) --libdir) -lpq

$(BUILD)/bench_crc32c: bench/bench_crc32c.c $(BUILD)/libpgr_common.a $(PGBUILD)/pg_config.id
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -Wno-ignored-attributes -I$(shell $(PG_CONFIG) --includedir-server) -o $@ $< \
		$(BUILD)/libpgr_common.a -L$(shell $(PG_CONFIG) --pkglibdir) -L$(shell $(PG_CONFIG) --libdir) -lpgport
else
.PHONY: all install installcheck
all install installcheck:
	@echo "pg_config not found: only the pure layers can be built (make all-pure, make check-unit)" >&2; exit 1
endif
