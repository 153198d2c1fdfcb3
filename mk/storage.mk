# pgraft_dump: the storage layer's operator tool (like pg_waldump /
# pg_controldata).  Built standalone like the tests, so it reads a pgraft
# directory without a server.
#   make BUILD=build build/pgraft_dump && build/pgraft_dump --verify DIR
.PHONY: pgraft-dump
pgraft-dump: $(BUILD)/pgraft_dump

all-pure: $(BUILD)/pgraft_dump
$(BUILD)/pgraft_dump: $(BUILD)/src/bin/pgraft_dump.o $(PURE_LIBS)
	$(CC) $(PURE_LDFLAGS) -o $@ $^
