# pgraft: Raft consensus for PostgreSQL.
#
# Two worlds share this Makefile:
#  - the pure layers (src/core, src/storage) with their tests, simulator,
#    fuzzers and benchmarks, built into $(BUILD)/ WITHOUT the PostgreSQL
#    include path: that is what proves boundary rule 1 of STYLE.md;
#  - the extension (src/pg), built by PGXS when pg_config is available.
#
# Variants are separate build directories:
#   make BUILD=build-asan SAN=1 check-unit   sanitizers (ASan + UBSan, leaks)
#   make BUILD=build-bug-fig8 BUG=PGR_BUG_SKIP_FIG8 build/raft-sim
#     deliberately broken cores that the simulator must catch

BUILD    ?= build
PG_CONFIG ?= pg_config
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server)
PG_PKGLIBDIR := $(shell $(PG_CONFIG) --pkglibdir)
CC       ?= cc
OPT      ?= -O2
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
PURE_CFLAGS = -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -D_POSIX_C_SOURCE=200809L \
	-Iinclude $(if $(BUG),-D$(BUG)) $(if $(SAN),$(SANFLAGS))
PURE_LDFLAGS = $(if $(SAN),$(SANFLAGS))
# Standalone programs that touch storage get CRC-32C from PostgreSQL's libpgport.
PGPORT_LIBS = -L$(PG_PKGLIBDIR) -lpgport

CORE_SRCS    := $(wildcard src/core/*.c)
STORAGE_SRCS := $(wildcard src/storage/*.c)
CORE_OBJS    := $(CORE_SRCS:%.c=$(BUILD)/%.o)
STORAGE_OBJS := $(STORAGE_SRCS:%.c=$(BUILD)/%.o)
SIM_SRCS     := $(wildcard test/sim/*.c)
UNIT_TESTS   := $(patsubst test/unit/%.c,$(BUILD)/%,$(filter-out test/unit/harness.c,$(wildcard test/unit/test_*.c)))
BENCHES      := $(patsubst bench/%.c,$(BUILD)/%,$(wildcard bench/bench_*.c))

.DEFAULT_GOAL := everything
.PHONY: everything
everything: all-pure all
.PHONY: all-pure check-unit check-sim bench-core

all-pure: $(BUILD)/raft-sim $(UNIT_TESTS) $(BENCHES)

$(BUILD)/%.o: %.c $(wildcard include/pgraft/*.h src/core/*.h src/storage/*.h test/unit/*.h test/sim/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -c $< -o $@

# The one src/pg file built for standalone programs: it needs PostgreSQL's
# headers (and is not part of the pure layers).
$(BUILD)/src/pg/crc32c.o: src/pg/crc32c.c include/pgraft/crc32c.h
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -Wno-ignored-attributes -I$(PG_INCLUDEDIR_SERVER) -c $< -o $@

$(BUILD)/libpgr_core.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libpgr_storage.a: $(STORAGE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/raft-sim: $(SIM_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libpgr_core.a
	$(CC) $(PURE_LDFLAGS) -o $@ $^

$(BUILD)/test_%: $(BUILD)/test/unit/test_%.o $(BUILD)/test/unit/harness.o $(BUILD)/libpgr_storage.a $(BUILD)/libpgr_core.a $(BUILD)/src/pg/crc32c.o
	$(CC) $(PURE_LDFLAGS) -o $@ $^ $(PGPORT_LIBS)

$(BUILD)/bench_%: $(BUILD)/bench/bench_%.o $(BUILD)/libpgr_storage.a $(BUILD)/libpgr_core.a $(BUILD)/src/pg/crc32c.o
	$(CC) $(PURE_LDFLAGS) -o $@ $^ $(PGPORT_LIBS)

# The benchmarks' libpq client (bench/cluster-bench).
all-pure: $(BUILD)/failover_client
$(BUILD)/failover_client: bench/failover_client.c
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< -L$(shell $(PG_CONFIG) --libdir) -lpq

# Run every unit test binary; each prints "N passed, M failed".
check-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# Further rules of one concern each (storage tool, fuzzers, ...).
include $(wildcard mk/*.mk)

check-sim: $(BUILD)/raft-sim
	$(BUILD)/raft-sim --seeds 1-200 --nodes 3

# ---------------------------------------------------------------------------
# The extension, built by PGXS: the glue in src/pg plus the pure layers
# compiled again with the server's flags.
# ---------------------------------------------------------------------------
MODULE_big = pgraft
EXTENSION  = pgraft
DATA       = pgraft--1.0.sql
PGFILEDESC = "pgraft - Raft consensus for PostgreSQL"
PURE_OBJS  = $(patsubst %.c,%.o,$(CORE_SRCS) $(STORAGE_SRCS))
OBJS       = $(patsubst %.c,%.o,$(wildcard src/pg/*.c)) $(PURE_OBJS)
PG_CPPFLAGS = -Iinclude
REGRESS    = pgraft
TAP_TESTS  = 1
EXTRA_CLEAN = build build-*

# The pure layers are C11 with declarations where they are first needed.
$(PURE_OBJS): CFLAGS += -Wno-declaration-after-statement
# PGXS knows no header dependencies: a changed struct must rebuild every
# object, or one pgraft.so ends up with two layouts of it.
$(OBJS): $(wildcard include/pgraft/*.h src/pg/*.h src/core/*.h src/storage/*.h)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pgraft_dump is installed with the extension, next to pg_waldump.
all-pure: $(BUILD)/pgraft_dump
install: install-pgraft-dump
.PHONY: install-pgraft-dump
install-pgraft-dump: $(BUILD)/pgraft_dump
	$(INSTALL_PROGRAM) $(BUILD)/pgraft_dump '$(DESTDIR)$(bindir)/pgraft_dump'
