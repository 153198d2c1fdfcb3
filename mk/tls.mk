# TLS over memory buffers (include/pgraft/tls.h, src/tls/): its unit test,
# linked with OpenSSL as the extension is.
#
#   make check-unit       runs $(BUILD)/test_tls with the others

TLS_OBJS := $(TLS_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/test_tls: $(BUILD)/test/unit/test_tls.o $(BUILD)/test/unit/harness.o $(TLS_OBJS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^ -lssl -lcrypto

# The TLS-wrapped frame path under libFuzzer (test/fuzz/fuzz_tls.c).  Its
# seeds are the wire corpus: the first byte picks the mode.
#
#   make fuzz-tls FUZZ_SECONDS=600   fuzzes for a bounded time
.PHONY: fuzz-replay-tls fuzz-tls

$(BUILD)/fuzz_tls: test/fuzz/fuzz_tls.c test/unit/tls_testutil.h test/unit/toy_mac.h $(TLS_SRCS) $(WIRE_SRCS) $(WIRE_HDRS) include/pgraft/tls.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_tls.c $(TLS_SRCS) $(WIRE_SRCS) -lssl -lcrypto

fuzz-replay: fuzz-replay-tls
fuzz-replay-tls: $(BUILD)/fuzz_tls
	$(BUILD)/fuzz_tls $(wildcard $(WIRE_CORPUS)/*)

fuzz-tls: $(BUILD)/fuzz_tls
	@mkdir -p $(BUILD)/fuzz-corpus-tls
	$(BUILD)/fuzz_tls -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
		-artifact_prefix=$(BUILD)/fuzz-tls- $(BUILD)/fuzz-corpus-tls $(WIRE_CORPUS)
