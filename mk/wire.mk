# Wire format (include/pgraft/wire.h, src/core/wire*.c): its unit test, its
# libFuzzer target and the fuzzer's seed corpus.
#
#   make check-unit                  runs $(BUILD)/test_wire with the others
#   make fuzz-replay                 replays the checked-in corpus (CI)
#   make fuzz-wire FUZZ_SECONDS=600  fuzzes for a bounded time, one process
#   make fuzz-corpus-wire            regenerates test/fuzz/corpus/wire/ seeds

WIRE_SRCS := src/core/wire.c src/core/wire_snap.c src/core/wire_session.c src/core/config.c src/core/util.c
WIRE_OBJS := $(WIRE_SRCS:%.c=$(BUILD)/%.o)
WIRE_HDRS := include/pgraft/core.h include/pgraft/wire.h src/common/codec.h src/core/wire_internal.h
WIRE_CORPUS := test/fuzz/corpus/wire

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS   = -std=c11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla -D_POSIX_C_SOURCE=200809L -Iinclude \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz-replay fuzz-replay-wire fuzz-wire fuzz-corpus-wire

# The wire test links only the objects it uses: it needs neither storage nor
# PostgreSQL's libpgport, and a core file elsewhere in mid-edit cannot stop it.
$(BUILD)/test_wire: $(BUILD)/test/unit/test_wire.o $(BUILD)/test/unit/harness.o $(WIRE_OBJS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^

$(BUILD)/test_wire_session: $(BUILD)/test/unit/test_wire_session.o $(BUILD)/test/unit/harness.o $(WIRE_OBJS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^

# The whole decoder is compiled with coverage and sanitizers in one step.
$(BUILD)/fuzz_wire: test/fuzz/fuzz_wire.c test/unit/toy_mac.h $(WIRE_SRCS) $(WIRE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_wire.c $(WIRE_SRCS)

$(BUILD)/gen_corpus_wire: $(BUILD)/test/fuzz/gen_corpus_wire.o $(WIRE_OBJS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^

# Each fuzzer adds itself as a prerequisite of fuzz-replay.
fuzz-replay: fuzz-replay-wire

# Runs every corpus file once (no mutation): fails on any crash or trap.
fuzz-replay-wire: $(BUILD)/fuzz_wire
	$(BUILD)/fuzz_wire $(wildcard $(WIRE_CORPUS)/*)

# New inputs go to $(BUILD)/fuzz-corpus-wire; crashers to $(BUILD)/fuzz-wire-*.
fuzz-wire: $(BUILD)/fuzz_wire
	@mkdir -p $(BUILD)/fuzz-corpus-wire
	$(BUILD)/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-artifact_prefix=$(BUILD)/fuzz-wire- $(BUILD)/fuzz-corpus-wire $(WIRE_CORPUS)

fuzz-corpus-wire: $(BUILD)/gen_corpus_wire
	@mkdir -p $(WIRE_CORPUS)
	$(BUILD)/gen_corpus_wire $(WIRE_CORPUS)
