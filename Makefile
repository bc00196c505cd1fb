# kennel — build with GNU make (see README "Why make").
#
#   make            build build/kennel, build/kenneld and the unit tests
#   make check      build and run the whole test suite (tests/run)
#   make run        build, start kenneld in the background if none runs, open a
#                   sandboxed shell in the current directory
#   make asan       the same build with AddressSanitizer + UBSan in build-asan/
#   make fuzz       libFuzzer targets in build-fuzz/ (clang)
#   make deps       install the Debian packages the build and tests need
#   make vm         the guest kernel and initramfs of --isolation vm, in build/vm/
#
# Sources are found by wildcard: a new .c in src/<part>/ joins the library, a
# new tests/unit/test_*.c becomes a unit-test binary, tests/fuzz/fuzz_*.c a fuzzer.

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= cc
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-truncation \
	  -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
	  -DKENNEL_VERSION=\"$(VERSION)\" -DKENNEL_GIT_REV=\"$(GIT_REV)\" \
	  -Isrc $(SAN_FLAGS)
# --as-needed: each binary loads only the libraries it uses (the CLI needs
# neither OpenSSL nor libseccomp, and its start-up is part of every command).
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SAN_FLAGS)
LIBS := -lseccomp -ljansson -lssl -lcrypto

MAINS := src/cli/main.c src/daemon/main.c src/proxy/main.c src/init/main.c
# The proxy's modules live in their own archive: only kennel-proxy and its tests
# link them, and the daemon and CLI never carry proxy code.
PROXY_SRCS := $(filter-out $(MAINS),$(wildcard src/proxy/*.c))
PROXY_OBJS := $(PROXY_SRCS:%.c=$(BUILD)/%.o)
# src/init/ is kennel-init alone (static, its own rule below).
LIB_SRCS := $(filter-out $(MAINS) $(PROXY_SRCS) $(wildcard src/init/*.c),$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
BINS := $(BUILD)/kennel $(BUILD)/kenneld $(BUILD)/kennel-init $(if $(wildcard src/proxy/main.c),$(BUILD)/kennel-proxy)

all: $(BINS) $(UNIT_BINS) $(HELPER_BINS)

# Everything but kennel-proxy and its tests (builds while the proxy is torn up).
core: $(BUILD)/kennel $(BUILD)/kenneld $(BUILD)/kennel-init $(filter-out $(BUILD)/tests/unit/test_proxy%,$(UNIT_BINS))

# The files that print the version and git revision are compiled again when
# the revision changes (a commit without a source change would otherwise leave
# `kennel version` naming an older one): $(BUILD)/git-rev is rewritten only then.
REV_USERS := src/cli/client.c src/cli/cmd_misc.c src/cli/main.c src/daemon/api.c \
	     src/daemon/main.c src/proxy/options.c
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(BUILD)/git-rev 2>/dev/null)" = "$(VERSION) $(GIT_REV)" ] || \
	echo "$(VERSION) $(GIT_REV)" >$(BUILD)/git-rev; })
$(patsubst %.c,$(BUILD)/%.o,$(REV_USERS)): $(BUILD)/git-rev

# Keep the objects that pattern rules chain through (the tests' and helpers'):
# deleted as intermediates, every second make compiled and linked them again.
.SECONDARY:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libkennel.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The CLI starts once per command, `kennel exec` included, so its start-up is
# part of every command's latency: linked static-pie (no dynamic loader, no
# libjansson to map; ASLR kept) it starts 0.15 ms sooner (`kennel --version`
# 0.49 -> 0.34 ms median here, /bin/true 0.40). The price: a glibc or jansson
# fix reaches the CLI when it is rebuilt. Sanitizer builds stay dynamic (their
# runtimes cannot be linked statically).
CLI_LINK := $(if $(SAN_FLAGS),,-static-pie)
$(BUILD)/kennel: $(BUILD)/src/cli/main.o $(BUILD)/libkennel.a
	$(CC) $(LDFLAGS) $(CLI_LINK) -o $@ $^ -ljansson

$(BUILD)/kenneld: $(BUILD)/src/daemon/main.o $(BUILD)/libkennel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/libkennelproxy.a: $(PROXY_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The sandbox's PID 1: static (an --image root may have no libraries at all) and
# never sanitized (a sanitizer runtime cannot be linked statically).
# Static and with none of the library's dependencies: it runs in images without
# them and as the guest's /init, where there are no libraries at all.
$(BUILD)/kennel-init: $(wildcard src/init/*.c src/init/*.h) src/sandbox/init.c src/sandbox/init.h src/sandbox/exec_env.h src/common/clock.h \
		      src/sandbox/vm_proto.c src/sandbox/vm_proto.h src/sandbox/netns.h src/sandbox/sandbox.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Wshadow -Wformat=2 -Isrc -static -o $@ $(filter %.c,$^)

$(BUILD)/kennel-proxy: $(BUILD)/src/proxy/main.o $(BUILD)/libkennelproxy.a $(BUILD)/libkennel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lpthread

$(BUILD)/tests/unit/test_proxy%: $(BUILD)/tests/unit/test_proxy%.o $(BUILD)/libkennelproxy.a $(BUILD)/libkennel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lpthread

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libkennel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The vm tests boot the guest assets: check builds them too (make vm).
check: all vm
	tests/run $(BUILD)

asan:
	$(MAKE) SANITIZE=1

check-asan:
	$(MAKE) SANITIZE=1 check

# DIR: where the shell opens (default: here).
run: all
	KENNEL_RUN_DIR="$(or $(DIR),$(CURDIR))" tools/run-shell $(BUILD)

# libFuzzer targets: every tests/fuzz/fuzz_*.c linked with the library sources.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_FLAGS := -O1 -g -std=gnu11 -Isrc -fsanitize=fuzzer,address,undefined -DKENNEL_VERSION=\"$(VERSION)\" -DKENNEL_GIT_REV=\"fuzz\"
fuzz: $(FUZZ_BINS)
build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(PROXY_SRCS)
	@mkdir -p build-fuzz
	clang $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(PROXY_SRCS) $(LIBS) -lpthread

deps:
	tools/install-deps

vm: $(BUILD)/kennel-init
	tools/vm-assets --init $(BUILD)/kennel-init --out $(BUILD)/vm

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all core check asan check-asan run fuzz deps vm clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
