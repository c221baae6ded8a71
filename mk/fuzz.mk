# Fuzzing (included by the Makefile). Every parser that reads outside input has a libFuzzer
# target in tests/fuzz/ (fuzz_<name>.c) and a seed corpus in tests/fuzz/corpus/<name>/.
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="wire http1"]   fuzz each target that long
#   make fuzz-replay                                           run each corpus once (make test)
# The targets and herd's code are built by clang with AddressSanitizer and
# UndefinedBehaviorSanitizer into build/fuzz/; what a run finds is added to the target's
# corpus folder under build/fuzz/corpus/ (copy new files worth keeping into tests/fuzz/corpus/),
# a crash (or leak, timeout, out-of-memory) is written to build/fuzz/<target>-crash-* (-leak-,
# -timeout-, -oom-) and fails the run; an input merely slow (<target>-slow-unit-*, slower than
# 10 s, which a loaded machine can make of any input) does not.

FUZZ_DEPS     := clang libclang-rt-14-dev
FUZZ_DIR      := build/fuzz
FUZZ_ALL      := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_SECONDS  ?= 60
FUZZ_SAN      := address,undefined
FUZZ_BINS     := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_ALL))
# The code under test: herd's libraries (and the sample services' body reader), built as
# usual but by clang with the sanitizers and libFuzzer's coverage hooks.
FUZZ_MAKE     := $(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_DIR) OPT=-O1 \
                 SANITIZE=$(FUZZ_SAN),fuzzer-no-link CPPFLAGS=
FUZZ_LIBS     := $(FUZZ_DIR)/libmaster.a $(FUZZ_DIR)/libworker.a $(FUZZ_DIR)/libherd.a
FUZZ_OBJS     := $(FUZZ_DIR)/sample-services/body.o $(FUZZ_DIR)/sample-services/money.o

.PHONY: fuzz fuzz-build fuzz-replay fuzz-deps fuzz-code fuzz-targets

fuzz-code: $(FUZZ_LIBS) $(FUZZ_OBJS)
fuzz-targets: $(FUZZ_BINS)

fuzz-deps: deps
	@HERD_DEPS_EXTRA="$(FUZZ_DEPS)" sh mk/deps.sh

fuzz-build: fuzz-deps
	@$(FUZZ_MAKE) fuzz-code
	@$(MAKE) --no-print-directory fuzz-targets

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIBS) $(FUZZ_OBJS)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wno-unused-function -I$(FUZZ_DIR)/proto \
	    -fsanitize=fuzzer,$(FUZZ_SAN) -fno-sanitize-recover=all $(PKG_CFLAGS) -o $@ $< \
	    $(FUZZ_OBJS) $(FUZZ_LIBS) $(PKG_LIBS) $(LDLIBS)

# Each corpus once through its target: seconds. A crash or a sanitizer report fails.
fuzz-replay: fuzz-build
	@set -e; for t in $(FUZZ_ALL); do \
	    echo "== fuzz_$$t: replaying $$(ls tests/fuzz/corpus/$$t | wc -l) inputs"; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	        $(FUZZ_DIR)/fuzz_$$t -runs=0 tests/fuzz/corpus/$$t 2>$(FUZZ_DIR)/replay-$$t.log \
	        || { cat $(FUZZ_DIR)/replay-$$t.log; exit 1; }; \
	    done

# Fuzz each target for FUZZ_SECONDS; new inputs go to build/fuzz/corpus/<target> (the
# committed seeds are read too, never written).
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    ( cd $(FUZZ_DIR) && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$$t- \
	        corpus/$$t $(CURDIR)/tests/fuzz/corpus/$$t ) 2>&1 | grep -E '^(Done|stat::|==|SUMMARY|INFO: seed)|DEDUP|#[0-9]+[[:space:]]+DONE' || true; \
	    found=$$(ls $(FUZZ_DIR)/$$t-crash-* $(FUZZ_DIR)/$$t-leak-* $(FUZZ_DIR)/$$t-timeout-* \
	        $(FUZZ_DIR)/$$t-oom-* 2>/dev/null || true); \
	    test -z "$$found" || { echo "fuzz_$$t: found: $$found"; exit 1; }; \
	    done

# fuzz_wire's seeds are envelopes packed by protobuf-c: remade by `make fuzz-wire-seeds`.
.PHONY: fuzz-wire-seeds
fuzz-wire-seeds: fuzz-build
	clang -std=c11 -D_GNU_SOURCE -g -I$(FUZZ_DIR)/proto -fsanitize=$(FUZZ_SAN) $(PKG_CFLAGS) \
	    -o $(FUZZ_DIR)/wire_seeds tests/fuzz/wire_seeds.c $(FUZZ_LIBS) $(PKG_LIBS) $(LDLIBS)
	$(FUZZ_DIR)/wire_seeds tests/fuzz/corpus/wire
