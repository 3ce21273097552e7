# Vireo build. `make` builds build/vireo and the tools; `make test` installs
# missing dependencies, builds, and runs the whole suite normally and under
# ASan+UBSan. `make SAN=1` builds the sanitizer variant into build-san/.
#
# Sources are discovered: every .c under src/ except src/main.c goes into
# libvireo.a; each directory tools/NAME/ becomes the program build/NAME;
# each tests/unit/test_*.c becomes a unit-test binary. Modules that need
# extra rules (test guests, fuzzers) add a module.mk beside their sources.

CC      ?= gcc
SAN     ?= 0
FUZZ    ?= 0
ifeq ($(FUZZ),1)
# libFuzzer build: clang, library instrumented for coverage + ASan/UBSan.
CC      := clang
B       := build-fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
            -Wno-unknown-warning-option -Wno-missing-field-initializers
else ifeq ($(SAN),1)
B       := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B       := build
SANFLAGS :=
endif

CFLAGS  := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-format-truncation -fno-strict-aliasing \
           -Isrc -MMD -MP $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS  := -lpthread -lz -lzstd -luring -lm

LIB_SRCS  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
TOOLS     := $(notdir $(patsubst %/,%,$(wildcard tools/*/)))
TOOL_BINS := $(TOOLS:%=$(B)/%)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
UNIT_HELPER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c)))

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS  += -DVIREO_VERSION='"$(VERSION)"'

.PHONY: fuzzers guest guests all test test-fast test-san test-long deps clean run lint
all: $(B)/vireo $(TOOL_BINS) $(UNIT_BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC   $<'
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/libvireo.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(B)/vireo: $(B)/obj/src/main.o $(B)/libvireo.a
	@echo '  LD   $@'
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(TOOL_BINS): $(B)/%: $$(addprefix $(B)/obj/,$$(addsuffix .o,$$(basename $$(wildcard tools/$$*/*.c)))) $(B)/libvireo.a
	@echo '  LD   $@'
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(UNIT_HELPER_OBJS) $(B)/libvireo.a
	@mkdir -p $(dir $@)
	@echo '  LD   $@'
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

guests::

-include $(sort $(wildcard src/*/module.mk tools/*/module.mk tests/*/module.mk bench/module.mk))

# Fuzz targets: each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and
# becomes build-fuzz/fuzz/fuzz_NAME (run `make FUZZ=1 fuzzers`); the seed corpus
# lives in tests/fuzz/corpus/NAME/. tests/integration/fuzz.sh runs each briefly.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
fuzzers: $(FUZZ_BINS)
$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(B)/libvireo.a
	@mkdir -p $(dir $@)
	@echo '  LD   $@'
	@$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

deps:
	@scripts/deps.sh

# The README's test command. Everything a fresh machine lacks is installed first.
test: deps
	$(MAKE) all guests
	$(MAKE) SAN=1 all guests
	$(MAKE) FUZZ=1 fuzzers
	tests/run.sh

# Only the plain build, for a quick edit-test loop.
test-fast: all guests
	VIREO_SAN=0 tests/run.sh

test-long: deps all guests
	VIREO_LONG=1 VIREO_SAN=0 tests/run.sh

# The default guest: Debian's cloud kernel + a busybox initramfs (scripts/build-guest.sh).
guest: deps
	@scripts/build-guest.sh

# Boots the default guest to an interactive shell; --accel auto picks KVM or the emulator.
run: deps all guest
	$(B)/vireo --accel auto --memory 1G --kernel build/guest/bzImage --initrd build/guest/initramfs.cpio.gz

lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability -Isrc src tools

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
