# The observability layer (include/pgraft/metrics.h, src/obs): its unit test
# runs with the others; its libFuzzer target takes what a scraper sends.
#
#   make fuzz-replay                 replays the checked-in corpus (CI)
#   make fuzz-http FUZZ_SECONDS=600  fuzzes for a bounded time

OBS_CORPUS := test/fuzz/corpus/http

.PHONY: fuzz-replay-http fuzz-http

$(BUILD)/fuzz_http: test/fuzz/fuzz_http.c $(OBS_SRCS) include/pgraft/metrics.h src/core/wire.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_http.c $(OBS_SRCS) $(WIRE_SRCS) -lm

fuzz-replay: fuzz-replay-http
fuzz-replay-http: $(BUILD)/fuzz_http
	$(BUILD)/fuzz_http $(wildcard $(OBS_CORPUS)/*)

fuzz-http: $(BUILD)/fuzz_http
	@mkdir -p $(BUILD)/fuzz-corpus-http
	$(BUILD)/fuzz_http -max_total_time=$(FUZZ_SECONDS) -max_len=12000 \
		-artifact_prefix=$(BUILD)/fuzz-http- $(BUILD)/fuzz-corpus-http $(OBS_CORPUS)
