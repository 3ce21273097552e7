# Differential tests of the emulated CPU against the host CPU: build/difftest
# (run by tests/integration/cpu_difftest.sh).
DIFFTEST_SRCS := $(sort $(wildcard tests/difftest/*.c))
DIFFTEST_OBJS := $(DIFFTEST_SRCS:%.c=$(B)/obj/%.o)

$(B)/difftest: $(DIFFTEST_OBJS) $(B)/libvireo.a
	@echo '  LD   $@'
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(B)/difftest
