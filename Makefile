# nspawn-runner — see README.md. Everything here runs as root on Debian 12.
VERSION := 0.1.0
PREFIX ?= /usr
LIBEXECDIR ?= $(PREFIX)/libexec/nspawn-runner
DATADIR ?= $(PREFIX)/share/nspawn-runner

B ?= build
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CPPFLAGS += -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -DNSPAWN_RUNNER_LIBEXECDIR='"$(LIBEXECDIR)"' -DNSPAWN_RUNNER_DATADIR='"$(DATADIR)"' -Isrc/core
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANITIZE)
LIBS := -lsystemd -lyaml -lgpiod -lblkid

CORE_SRC := $(wildcard src/core/*.c)
CORE_OBJ := $(CORE_SRC:src/core/%.c=$(B)/core/%.o)
# What the statically linked init needs of the core: nothing that pulls in libsystemd, and built
# without sanitizers (their runtimes cannot be linked statically).
INIT_CORE := $(B)/init-core/log.o $(B)/init-core/proto.o $(B)/init-core/util.o \
	$(B)/init-core/seccomp-filter.o $(B)/init-core/seccomp-abi-compat.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test-*.c))

DEB_PACKAGES := build-essential pkg-config libsystemd-dev libyaml-dev systemd-container debootstrap eatmydata \
	btrfs-progs python3 clang libclang-rt-14-dev iproute2 util-linux hyperfine ansible libgpiod-dev \
	libblkid-dev openssh-client

.PHONY: all clean setup setup-image image check-image check check-unit check-asan check-integration check-fuzz fuzz-build demo bench fuzz install
all: $(B)/nspawn-runner $(B)/nspawn-runnerd $(B)/nspawn-runner-init $(B)/nspawn-runner-hwtest

$(B)/core/%.o: src/core/%.c $(wildcard src/core/*.h) Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(B)/init-core/%.o: src/core/%.c $(wildcard src/core/*.h) Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/libnspawn-runner.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/nspawn-runner: src/nspawn-runner/main.c $(B)/libnspawn-runner.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(B)/libnspawn-runner.a $(LIBS)

$(B)/nspawn-runnerd: src/nspawn-runnerd/main.c $(B)/libnspawn-runner.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(B)/libnspawn-runner.a $(LIBS)

# For a person at a real board, see tests/hw/README.md.
$(B)/nspawn-runner-hwtest: src/hw-test/nspawn-runner-hwtest.c $(B)/libnspawn-runner.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(B)/libnspawn-runner.a $(LIBS)

# Runs as PID 1 inside chroots of any libc and architecture: static, never sanitized.
$(B)/nspawn-runner-init: src/init/init.c $(INIT_CORE)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(CFLAGS) -static -o $@ $< $(INIT_CORE)

$(B)/tests/%: tests/unit/%.c tests/unit/tap.h $(B)/libnspawn-runner.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -o $@ $< $(B)/libnspawn-runner.a $(LIBS)

# Installs what building and testing need, when it is missing (a fresh Debian 12 machine).
setup:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "setup: installing $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# The appliance image (board/rpi4/, firmware/, rootfs/etc/): see README, "The appliance image".
IMAGE_PACKAGES := mmdebstrap qemu-user-static binfmt-support qemu-system-arm u-boot-qemu u-boot-tools \
	mtools dosfstools fdisk e2fsprogs xz-utils bmap-tools btrfs-progs
setup-image:
	@$(MAKE) -s setup DEB_PACKAGES='$(DEB_PACKAGES) $(IMAGE_PACKAGES)'

image: setup-image
	$(MAKE) deb-arm64
	board/rpi4/build-image --out $(B)$(if $(GITLAB_RUNNER_DEB), --gitlab-runner-deb $(GITLAB_RUNNER_DEB))

# Builds the image (the Debian part is cached in $(B)/image-cache/), inspects it and boots it under
# qemu with a test SSD.
check-image: all image
	python3 tests/image/check_image.py --build $(B)

check-unit: $(UNIT_TESTS)
	@tests/run-unit $(UNIT_TESTS)

check-asan:
	$(MAKE) B=build-asan SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' check-unit
	$(MAKE) B=build-asan SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' all

check-integration: all
	python3 tests/integration/run.py --build $(B) --asan-build build-asan
	python3 tests/integration/daemon.py --build $(B)
	python3 tests/integration/appliance.py --build $(B)

# Fuzzers: libFuzzer with ASan/UBSan, over the same core library.
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60

build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(CORE_SRC) $(wildcard src/core/*.h)
	$(MAKE) -s B=build-fuzz CC=clang SANITIZE='$(FUZZ_SAN)' build-fuzz/libnspawn-runner.a
	clang $(CPPFLAGS) -std=gnu11 $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libnspawn-runner.a $(LIBS)

fuzz-build: $(FUZZERS:%=build-fuzz/%)

# Regression: every corpus file once through its fuzzer.
check-fuzz: fuzz-build
	@for f in $(FUZZERS); do \
		build-fuzz/$$f tests/fuzz/corpus/$${f#fuzz-}/* >build-fuzz/$$f.log 2>&1 \
			&& echo "ok - $$f corpus" || { echo "not ok - $$f corpus"; tail -20 build-fuzz/$$f.log; exit 1; }; \
	done

# Bounded fuzzing: FUZZ_SECONDS per target; new inputs go to build-fuzz/corpus/, crashes to build-fuzz/.
fuzz: setup fuzz-build
	@for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus/$${f#fuzz-}; \
		echo "== $$f for $(FUZZ_SECONDS) s"; \
		build-fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build-fuzz/$$f- \
			build-fuzz/corpus/$${f#fuzz-} tests/fuzz/corpus/$${f#fuzz-} 2>&1 | grep -E '^(Done|==|SUMMARY)' || true; \
		ls build-fuzz/$$f-crash-* 2>/dev/null && exit 1; \
	done; true

check: setup
	$(MAKE) all check-unit check-asan check-fuzz
	$(MAKE) check-integration

demo: setup all
	tests/demo.sh $(B)

bench: setup all
	tests/bench.sh $(B)

install: all
	install -D -m 0755 $(B)/nspawn-runner $(DESTDIR)$(PREFIX)/bin/nspawn-runner
	install -D -m 0755 $(B)/nspawn-runnerd $(DESTDIR)$(PREFIX)/bin/nspawn-runnerd
	install -D -m 0644 rootfs/usr/lib/systemd/system/nspawn-runnerd.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/nspawn-runnerd.service
	install -D -m 0644 rootfs/usr/lib/systemd/system/nspawn-runner-setup.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/nspawn-runner-setup.service
	install -D -m 0755 $(B)/nspawn-runner-init $(DESTDIR)$(LIBEXECDIR)/nspawn-runner-init
	install -D -m 0644 ansible/connection_plugins/nspawn_runner.py \
		$(DESTDIR)$(DATADIR)/ansible/connection_plugins/nspawn_runner.py

clean:
	rm -rf build build-asan build-fuzz
