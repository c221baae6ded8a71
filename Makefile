# herd — the only build entry. `make` builds bin/, `make test` runs every test, `make demo`
# runs the gaming demo, `make bench` the benchmarks, `make deps` installs Debian packages.
# Every target that compiles calls `make deps` first, so a fresh Debian 12 needs only make.
#
# Sanitizer build beside the normal one:
#   make BUILD=build/asan BINDIR=build/asan/bin SANITIZE=address,undefined test

CC       ?= cc
PKGS     := libzmq libcurl libprotobuf-c uuid yaml-0.1 jansson libmicrohttpd
BUILD    ?= build
BINDIR   ?= bin
SANITIZE ?=
OPT      ?= -O2

CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP -I$(BUILD)/proto
LDLIBS   += -pthread -lm
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

PROTO_C   := $(BUILD)/proto/herd.pb-c.c
PROTO_H   := $(BUILD)/proto/herd.pb-c.h
COMMON_O  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard common/*.c)) $(BUILD)/proto/herd.pb-c.o
WORKER_O  := $(patsubst %.c,$(BUILD)/%.o,$(filter-out worker/main.c,$(wildcard worker/*.c)))
MASTER_O  := $(patsubst %.c,$(BUILD)/%.o,$(filter-out master/main.c,$(wildcard master/*.c)))
SERVICE_O := $(patsubst %.c,$(BUILD)/%.o,$(wildcard sample-services/*.c))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BINS      := $(BINDIR)/herd-master $(BINDIR)/herd-worker $(BINDIR)/herd-sample-services
PYTEST    := /usr/bin/python3 -m pytest

.PHONY: all deps test unit-test system-test demo bench clean install
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory $(BINS)

deps:
	@sh mk/deps.sh

$(BUILD)/proto/herd.pb-c.c $(BUILD)/proto/herd.pb-c.h: proto/herd.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto proto/herd.proto

# Every object may include the generated header.
$(BUILD)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# The web UI's files go into herd-master by the assembler's .incbin (master/web_assets.c),
# which the compiler's .d files do not see: name them here, so a changed page rebuilds it.
CHARTJS   ?= /usr/share/javascript/chart.js/chart.min.js
WEB_FILES := master/web/index.html master/web/app.js master/web/style.css
$(BUILD)/master/web_assets.o: CFLAGS += -DHERD_CHARTJS='"$(CHARTJS)"'
$(BUILD)/master/web_assets.o: $(WEB_FILES) $(CHARTJS)

$(BUILD)/proto/herd.pb-c.o: $(PROTO_C)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Wno-unused-parameter -c $< -o $@

$(BUILD)/libherd.a: $(COMMON_O)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libworker.a: $(WORKER_O)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libmaster.a: $(MASTER_O)
	@rm -f $@; ar rcs $@ $^

$(BINDIR)/herd-worker: $(BUILD)/worker/main.o $(BUILD)/libworker.a $(BUILD)/libherd.a
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
$(BINDIR)/herd-master: $(BUILD)/master/main.o $(BUILD)/libmaster.a $(BUILD)/libherd.a
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
$(BINDIR)/herd-sample-services: $(SERVICE_O) $(BUILD)/libherd.a
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libmaster.a $(BUILD)/libworker.a $(BUILD)/libherd.a | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(PKG_LIBS) -lcmocka $(LDLIBS)

# What only the tests need: a browser for the web UI's tests, a Prometheus text parser.
TEST_DEPS := chromium chromium-driver python3-selenium python3-prometheus-client

test: deps
	@HERD_DEPS_EXTRA="$(TEST_DEPS)" sh mk/deps.sh
	@$(MAKE) --no-print-directory unit-test system-test

unit-test: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

system-test: $(BINS)
	HERD_BIN=$(abspath $(BINDIR)) $(PYTEST) -q tests/system

demo: all
	@sh mk/demo.sh

bench: all
	@HERD_DEPS_EXTRA="nginx-light wrk python3-locust" sh mk/deps.sh
	@/usr/bin/python3 tests/bench/bench.py

install: all
	install -d $(DESTDIR)/usr/local/bin
	install -m 755 $(BINS) $(DESTDIR)/usr/local/bin/

clean:
	rm -rf $(BUILD) $(BINDIR)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
