# herd — the only build entry. `make` builds bin/, `make test` runs every test (`make
# cluster-test` only the ones on hosts in network namespaces, as root), `make demo`
# runs the gaming demo, `make test-deploy` the Docker image and compose cluster (deploy/),
# `make bench` the benchmarks, `make deps` installs Debian packages,
# `make install` / `make uninstall` (PREFIX, DESTDIR) the programs, scenarios, man pages and
# bash completion, `make deb` the same files as a Debian package in build/deb/.
# Every target that compiles calls `make deps` first, so a fresh Debian 12 needs only make.
#
# Sanitizer build beside the normal one:
#   make BUILD=build/asan BINDIR=build/asan/bin SANITIZE=address,undefined test

CC       ?= cc
PKGS     := libzmq libczmq libcurl libssl libcrypto libprotobuf-c uuid yaml-0.1 jansson libmicrohttpd libpcre2-8 zlib
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

.PHONY: all deps test unit-test system-test cluster-test test-deploy test-sanitize demo valgrind bench clean install install-files uninstall docs deb FORCE
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
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# The web UI's files go into herd-master by the assembler's .incbin (master/web_assets.c),
# which the compiler's .d files do not see: name them here, so a changed page rebuilds it.
CHARTJS   ?= /usr/share/javascript/chart.js/chart.min.js
WEB_FILES := master/web/index.html master/web/app.js master/web/style.css
$(BUILD)/master/web_assets.o: CFLAGS += -DHERD_CHARTJS='"$(CHARTJS)"'
$(BUILD)/master/web_assets.o: $(WEB_FILES) $(CHARTJS)

$(BUILD)/proto/herd.pb-c.o: $(PROTO_C)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -Wno-unused-parameter -c $< -o $@

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
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(PKG_LIBS) -lcmocka $(LDLIBS)

# What only the tests need: a browser for the web UI's tests, a Prometheus text parser, a
# YAML reader for the deploy files, a ZeroMQ client and tcpdump for the CurveZMQ tests;
# network namespaces, links and packet filters for the cluster tests.
CLUSTER_DEPS := iproute2 iptables
TEST_DEPS := chromium chromium-driver python3-selenium python3-prometheus-client python3-yaml \
             python3-zmq tcpdump nginx-light openssl $(CLUSTER_DEPS)

test: deps
	@HERD_DEPS_EXTRA="$(TEST_DEPS) $(FUZZ_DEPS)" sh mk/deps.sh
	@$(MAKE) --no-print-directory unit-test system-test cluster-test fuzz-replay

unit-test: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

system-test: $(BINS)
	HERD_BIN=$(abspath $(BINDIR)) $(PYTEST) -q tests/system $(PYTEST_ARGS)

# Hosts in network namespaces (tests/cluster/lab.py): needs root, skipped without.
cluster-test: deps
	@HERD_DEPS_EXTRA="$(CLUSTER_DEPS)" sh mk/deps.sh
	@$(MAKE) --no-print-directory $(BINS)
	HERD_BIN=$(abspath $(BINDIR)) $(PYTEST) -q -rs tests/cluster

# deploy/: the Docker image and the compose cluster, built and run for real (mk/test-deploy.sh
# installs Docker, starts dockerd when none runs, makes the base image with debootstrap when it
# is absent), then every test under tests/deploy/. Not part of `make test`: it needs root.
test-deploy:
	@sh mk/test-deploy.sh

demo: all
	@sh mk/demo.sh

# The unit and system tests against the AddressSanitizer/UndefinedBehaviorSanitizer build
# (build/asan/, its programs in build/asan/bin), as CI runs them; not the packaging tests,
# which build and install the programs of the normal build, nor the browser test (Chromium
# takes a core for minutes; the master's web code runs under the sanitizers in test_web_api
# and test_web_run), to keep CI under its 40 minutes.
test-sanitize: deps
	@HERD_DEPS_EXTRA="$(TEST_DEPS)" sh mk/deps.sh
	@$(MAKE) --no-print-directory BUILD=build/asan BINDIR=build/asan/bin \
	    SANITIZE=address,undefined unit-test system-test \
	    PYTEST_ARGS="--ignore=tests/system/test_deb.py --ignore=tests/system/test_install.py \
	                 --ignore=tests/system/test_web_ui.py"

# A short distributed run with herd-master and herd-worker under valgrind's memcheck.
valgrind: all
	@HERD_DEPS_EXTRA="valgrind" sh mk/deps.sh
	@HERD_BIN=$(abspath $(BINDIR)) sh mk/valgrind.sh

bench: all
	@HERD_DEPS_EXTRA="nginx-light wrk python3-locust" sh mk/deps.sh
	@/usr/bin/python3 tests/bench/bench.py

# Installation. PREFIX is where the files live once installed; DESTDIR, empty by default, is
# a staging root put in front of every path (packaging). The man pages of the programs are
# generated from their --help by help2man, with man/<program>.h2m adding examples, so they
# cannot drift from it; the completion's option lists come from --help too.
PREFIX   ?= /usr/local
I_BIN     = $(DESTDIR)$(PREFIX)/bin
I_SHARE   = $(DESTDIR)$(PREFIX)/share/herd
I_MAN1    = $(DESTDIR)$(PREFIX)/share/man/man1
I_MAN5    = $(DESTDIR)$(PREFIX)/share/man/man5
I_COMPL   = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
PROGS     := herd-master herd-worker herd-sample-services
SCENARIOS := $(notdir $(wildcard scenarios/*.yaml)) README.md
MAN1_GZ   := $(patsubst %,$(BUILD)/man/%.1.gz,$(PROGS))
MAN5_GZ   := $(BUILD)/man/herd-scenario.5.gz
COMPLETION := $(BUILD)/completion/herd.bash

herd-master_WHATIS          := distributed HTTP load generator: runs a scenario file over herd-worker processes
herd-worker_WHATIS          := runs the virtual users a herd-master gives it and reports their statistics
herd-sample-services_WHATIS := in-memory gaming services (profile, matchmaking, item, tradepost) to load-test with herd

docs: $(MAN1_GZ) $(MAN5_GZ) $(COMPLETION)
.SECONDARY: $(patsubst %.gz,%,$(MAN1_GZ)) $(patsubst %,$(BUILD)/man/%.h2m,$(PROGS))
FORCE:

# The pages name the installed scenarios' folder: rebuilt when PREFIX changes.
$(BUILD)/man/prefix: FORCE
	@mkdir -p $(@D); echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
$(BUILD)/man/%.h2m: man/%.h2m $(BUILD)/man/prefix
	sed 's|@SCENARIOS@|$(PREFIX)/share/herd/scenarios|g' $< > $@
$(BUILD)/man/%.1: $(BINDIR)/% $(BUILD)/man/%.h2m
	help2man -N -s 1 -n '$($*_WHATIS)' -i $(BUILD)/man/$*.h2m -o $@.tmp $(BINDIR)/$* && mv $@.tmp $@
$(BUILD)/man/herd-scenario.5: man/herd-scenario.5
	@mkdir -p $(@D); cp $< $@
$(BUILD)/man/%.gz: $(BUILD)/man/%
	gzip -9n -c $< > $@
$(COMPLETION): completion/herd.bash.in mk/completion.sh $(BINS)
	@mkdir -p $(@D)
	sh mk/completion.sh completion/herd.bash.in $(BINS) > $@.tmp && mv $@.tmp $@

install: all
	@$(MAKE) --no-print-directory install-files

install-files: docs
	install -d $(I_BIN) $(I_SHARE)/scenarios $(I_MAN1) $(I_MAN5) $(I_COMPL)
	install -m 755 $(BINS) $(I_BIN)/
	install -m 644 $(addprefix scenarios/,$(SCENARIOS)) $(I_SHARE)/scenarios/
	install -m 644 $(MAN1_GZ) $(I_MAN1)/
	install -m 644 $(MAN5_GZ) $(I_MAN5)/
	install -m 644 $(COMPLETION) $(I_COMPL)/herd-master
	ln -sf herd-master $(I_COMPL)/herd-worker
	ln -sf herd-master $(I_COMPL)/herd-sample-services

uninstall:
	rm -f $(addprefix $(I_BIN)/,$(PROGS))
	rm -f $(addprefix $(I_SHARE)/scenarios/,$(SCENARIOS))
	rm -f $(addprefix $(I_MAN1)/,$(addsuffix .1.gz,$(PROGS))) $(I_MAN5)/herd-scenario.5.gz
	rm -f $(addprefix $(I_COMPL)/,$(PROGS))
	rmdir $(I_SHARE)/scenarios $(I_SHARE) 2>/dev/null || true

# The Debian package (debian/): built by dpkg-buildpackage from a copy of the tree, so the
# tree is left as it was, and checked by lintian. debian/rules stages `make install-files`.
DEB_DEPS := debhelper dpkg-dev lintian

deb: deps
	@HERD_DEPS_EXTRA="$(DEB_DEPS)" sh mk/deps.sh
	@sh mk/deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(BINDIR)

include mk/fuzz.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
