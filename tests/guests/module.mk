# Freestanding test guests (issue 2), built into $(B)/guests/ by `make guests`.
# They are the same in plain and sanitizer builds: gcc/as/ld with
# -ffreestanding -nostdlib, explicit linker scripts, never $(SANFLAGS).
#   mbcheck.elf, lifecycle.elf, smp.elf, echo.elf  multiboot (v1) ELF32 kernels
#   linux64.bzImage                                 bzImage, 64-bit boot protocol entry
#   firmware.bin, exit-fw.bin                       64 KiB flat firmware images

GD   := tests/guests
GB   := $(B)/guests
GCC_GUEST := gcc
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -nostdlib -fno-pic -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fcf-protection=none -mno-red-zone -mgeneral-regs-only \
	-Isrc -I$(GD)/lib -I$(GD)/multiboot -I$(GD)/linux64 -I$(GB) -MMD -MP
GUEST_LIB := guest acpi memmap
GUEST_LDFLAGS := -nostdlib -static -z noexecstack --no-warn-rwx-segments

GUEST_BINS := $(GB)/mbcheck.elf $(GB)/lifecycle.elf $(GB)/smp.elf $(GB)/echo.elf \
	$(GB)/linux64.bzImage \
	$(GB)/firmware.bin $(GB)/exit-fw.bin

guests:: $(GUEST_BINS)

# layout.h with the C integer suffixes stripped, for assembly sources.
$(GB)/layout_asm.h: src/hw/x86/layout.h
	@mkdir -p $(dir $@)
	@sed -E 's/\b(0x[0-9a-fA-F]+|[0-9]+)U?L?L?\b/\1/g' $< >$@

$(GB)/o32/%.o: $(GD)/%.c
	@mkdir -p $(dir $@)
	@echo '  GCC32 $<'
	@$(GCC_GUEST) -m32 -march=i686 $(GUEST_CFLAGS) -c $< -o $@

$(GB)/o32/%.o: $(GD)/%.S $(GB)/layout_asm.h
	@mkdir -p $(dir $@)
	@echo '  AS32 $<'
	@$(GCC_GUEST) -m32 $(GUEST_CFLAGS) -c $< -o $@

$(GB)/o64/%.o: $(GD)/%.c
	@mkdir -p $(dir $@)
	@echo '  GCC64 $<'
	@$(GCC_GUEST) -m64 $(GUEST_CFLAGS) -c $< -o $@

$(GB)/o64/%.o: $(GD)/%.S $(GB)/layout_asm.h
	@mkdir -p $(dir $@)
	@echo '  AS64 $<'
	@$(GCC_GUEST) -m64 $(GUEST_CFLAGS) -c $< -o $@

GUEST_LIB32 := $(GUEST_LIB:%=$(GB)/o32/lib/%.o)
GUEST_LIB64 := $(GUEST_LIB:%=$(GB)/o64/lib/%.o)

# Multiboot kernels: entry + one main file (+ extra objects) + the library.
$(GB)/mbcheck.elf: $(GB)/o32/multiboot/entry.o $(GB)/o32/multiboot/mbcheck.o $(GUEST_LIB32)
$(GB)/lifecycle.elf: $(GB)/o32/multiboot/entry.o $(GB)/o32/multiboot/lifecycle.o $(GUEST_LIB32)
$(GB)/smp.elf: $(GB)/o32/multiboot/entry.o $(GB)/o32/multiboot/smp.o \
	$(GB)/o32/multiboot/smp_tramp.o $(GUEST_LIB32)
$(GB)/echo.elf: $(GB)/o32/multiboot/entry.o $(GB)/o32/multiboot/echo.o $(GB)/o32/multiboot/isr.o \
	$(GUEST_LIB32)
$(GB)/%.elf: $(GD)/multiboot/multiboot.ld
	@echo '  LD   $@'
	@ld $(GUEST_LDFLAGS) -m elf_i386 -T $(GD)/multiboot/multiboot.ld -o $@ $(filter %.o,$^)

# bzImage: the 64-bit payload is linked at 1 MiB and flattened, then
# setup.S wraps it with the boot sector and setup header (.incbin).
$(GB)/linux64-payload.elf: $(GB)/o64/linux64/head64.o $(GB)/o64/linux64/linux64.o $(GUEST_LIB64) \
	$(GD)/linux64/payload.ld
	@echo '  LD   $@'
	@ld $(GUEST_LDFLAGS) -m elf_x86_64 -T $(GD)/linux64/payload.ld -o $@ $(filter %.o,$^)

$(GB)/linux64-payload.bin: $(GB)/linux64-payload.elf
	@objcopy -O binary $< $@

$(GB)/o64/linux64/setup.o: $(GB)/linux64-payload.bin

$(GB)/linux64.bzImage: $(GB)/o64/linux64/setup.o $(GD)/linux64/setup.ld
	@echo '  LD   $@'
	@ld $(GUEST_LDFLAGS) -m elf_x86_64 -T $(GD)/linux64/setup.ld -o $@ $<

# Flat firmware images: 64 KiB, linked where the BIOS alias sits (0xf0000).
$(GB)/%.bin: $(GB)/o64/firmware/%.o $(GD)/firmware/firmware.ld
	@echo '  LD   $@'
	@ld $(GUEST_LDFLAGS) -m elf_x86_64 -T $(GD)/firmware/firmware.ld -o $@ $<
.PRECIOUS: $(GB)/o32/%.o $(GB)/o64/%.o
