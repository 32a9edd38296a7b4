# nspawn-runner — see README.md. Everything here runs as root on Debian 12.
VERSION := 0.1.0
PREFIX ?= /usr
LIBEXECDIR ?= $(PREFIX)/libexec/nspawn-runner
DATADIR ?= $(PREFIX)/share/nspawn-runner

SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Debian 12's debhelper looks for units in /lib/systemd/system: the package passes that.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

B ?= build
CFLAGS ?= -O2 -g
# Cross builds: `make CC=aarch64-linux-gnu-gcc` takes ar and pkg-config of the same triplet (unless
# AR or PKG_CONFIG are given); see setup-cross.
CROSS := $(patsubst %-gcc,%-,$(filter %-gcc,$(notdir $(CC))))
ifeq ($(origin AR),default)
AR := $(CROSS)ar
endif
PKG_CONFIG ?= $(CROSS)pkg-config
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CPPFLAGS += -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -DNSPAWN_RUNNER_LIBEXECDIR='"$(LIBEXECDIR)"' -DNSPAWN_RUNNER_DATADIR='"$(DATADIR)"'
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANITIZE)
LIBS := $(shell $(PKG_CONFIG) --libs libsystemd yaml-0.1 libgpiod blkid 2>/dev/null || echo -lsystemd -lyaml -lgpiod -lblkid)

# The folders of src/ (docs/ARCHITECTURE.md). The layers, lowest first: each may use those before it
# (hw only basic).
# Each program's folder holds what only that program uses. A folder is compiled seeing only the
# folders it may use (uses_FOLDER, highest first: also the order its archives are linked in), and
# all but a program's main file go into one archive per folder, $(B)/obj/libFOLDER.a.
LAYERS := basic shared hw images machines
PROGRAMS := nspawn-runner nspawn-runnerd nspawn-run hw-test init
MAINS := src/nspawn-runner/main.c src/nspawn-runnerd/main.c src/nspawn-run/main.c \
	src/hw-test/nspawn-runner-hwtest.c src/init/init.c
uses_basic := basic
uses_shared := shared $(uses_basic)
uses_hw := hw basic
uses_images := images hw $(uses_shared)
uses_machines := machines $(uses_images)
uses_nspawn-runner := nspawn-runner $(uses_machines)
uses_nspawn-runnerd := nspawn-runnerd $(uses_machines)
uses_nspawn-run := nspawn-run $(uses_machines)
uses_hw-test := hw-test hw basic
# The static init: the C library and the basic layer, nothing that pulls in libsystemd.
uses_init := init basic
# Unit tests and fuzzers see and link everything.
uses_tests := nspawn-runner nspawn-runnerd nspawn-run $(uses_machines)

$(foreach d,$(LAYERS) $(PROGRAMS),$(eval SRC_$(d) := $(filter-out $(MAINS),$(wildcard src/$(d)/*.c))))
ALL_SRC := $(wildcard src/*/*.c)
ifneq ($(wildcard src/core/*),)
$(error src/core/ is gone: move $(wildcard src/core/*) to its folder, see docs/ARCHITECTURE.md)
endif
# $(call includes,FOLDER), $(call archives,FOLDER): the -I flags and the archives of what FOLDER uses.
includes = $(foreach d,$(uses_$(1)),-Isrc/$(d))
archives = $(foreach d,$(uses_$(1)),$(if $(SRC_$(d)),$(B)/obj/lib$(d).a))
objects = $(patsubst src/%.c,$(B)/obj/%.o,$(SRC_$(1)))
# Every archive but the init's, each checked to link with only what its folder may use.
ARCHIVE_DIRS := $(foreach d,$(LAYERS) $(PROGRAMS),$(if $(SRC_$(d)),$(d)))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test-*.c))

DEB_PACKAGES := build-essential pkg-config libsystemd-dev libyaml-dev systemd-container debootstrap eatmydata \
	btrfs-progs python3 clang libclang-rt-14-dev iproute2 util-linux hyperfine ansible libgpiod-dev scdoc \
	libblkid-dev openssh-client e2fsprogs fdisk nftables sudo
# What building the Debian package needs (debian/control's Build-Depends), and for the cross build.
DEB_BUILD_PACKAGES := build-essential dpkg-dev debhelper fakeroot scdoc pkgconf libsystemd-dev libyaml-dev libgpiod-dev libblkid-dev
CROSS_ARCH := arm64
CROSS_PACKAGES := crossbuild-essential-$(CROSS_ARCH) pkgconf:$(CROSS_ARCH) libc6-dev:$(CROSS_ARCH) \
	libsystemd-dev:$(CROSS_ARCH) libyaml-dev:$(CROSS_ARCH) libgpiod-dev:$(CROSS_ARCH) libblkid-dev:$(CROSS_ARCH)

.PHONY: FORCE all archives man clean setup setup-image image check-image setup-deb setup-cross deb deb-arm64 check-deb check-docs check check-unit check-asan check-integration check-network check-faults check-bench check-fuzz fuzz-build demo bench soak fuzz install
all: $(B)/nspawn-runner $(B)/nspawn-runnerd $(B)/nspawn-runner-init $(B)/nspawn-runner-hwtest $(B)/nspawn-run \
	$(ARCHIVE_DIRS:%=$(B)/obj/lib%.linked)

# -MMD -MP: each object's header dependencies, in a .d file beside it.
$(B)/obj/%.o: src/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(call includes,$(*D)) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Objects are kept (not removed as intermediate files).
.SECONDARY:
.SECONDEXPANSION:
$(B)/obj/lib%.a: $$(call objects,$$*) $(B)/obj/lib%.members
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

# Each archive's member list, rewritten only when it changed: a file that left a folder (git mv)
# then rebuilds that folder's archive without its old object.
write_if_changed = @mkdir -p $(@D); [ "$$(cat $@ 2>/dev/null)" = '$(1)' ] || echo '$(1)' >$@
$(B)/obj/lib%.members: FORCE
	$(call write_if_changed,$(call objects,$*))
$(B)/init-obj/libbasic.members: FORCE
	$(call write_if_changed,$(SRC_basic))
FORCE:

# The layering, checked at every build: each archive linked whole with only the archives of the
# folders below it (the basic layer with nothing but the C library), so that a call upward fails.
$(B)/obj/lib%.linked: $$(call archives,$$*)
	echo 'int main(void) { return 0; }' | $(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ -x c - -x none \
		-Wl,--whole-archive $< -Wl,--no-whole-archive $(filter-out $<,$^) $(if $(filter basic,$*),,$(LIBS))

$(B)/nspawn-runner: $(B)/obj/nspawn-runner/main.o $(call archives,nspawn-runner)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/nspawn-runnerd: $(B)/obj/nspawn-runnerd/main.o $(call archives,nspawn-runnerd)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# For people, through sudo: see man/nspawn-run.1.scd.
$(B)/nspawn-run: $(B)/obj/nspawn-run/main.o $(call archives,nspawn-run)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# For a person at a real board, see tests/hw/README.md.
$(B)/nspawn-runner-hwtest: $(B)/obj/hw-test/nspawn-runner-hwtest.o $(call archives,hw-test)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Runs as PID 1 inside chroots of any libc and architecture: static, linking the basic layer only, and
# never sanitized (the sanitizers' runtimes cannot be linked statically): a sanitized build compiles
# the init and that layer apart, in $(B)/init-obj.
INIT_OBJ := $(if $(SANITIZE),$(B)/init-obj,$(B)/obj)
$(B)/init-obj/%.o: src/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(call includes,$(*D)) -std=gnu11 $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/init-obj/libbasic.a: $(SRC_basic:src/%.c=$(B)/init-obj/%.o) $(B)/init-obj/libbasic.members
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

$(B)/nspawn-runner-init: $(INIT_OBJ)/init/init.o $(INIT_OBJ)/libbasic.a
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -static $(LDFLAGS) -o $@ $^

$(B)/tests/%: tests/unit/%.c $(call archives,tests) Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(call includes,tests) -Itests/unit $(ALL_CFLAGS) -MMD -MP -MF $@.d $(LDFLAGS) -o $@ $< \
		$(call archives,tests) $(LIBS)

# The archives the unit tests and fuzzers link.
archives: $(call archives,tests)

-include $(wildcard $(B)/obj/*/*.d $(B)/init-obj/*/*.d $(B)/tests/*.d)

# $(call apt_install_missing,TARGET,PACKAGES): installs those of PACKAGES (pkg or pkg:arch) that are
# not installed; apt-get update only when something is missing. Waits for another apt to finish.
define apt_install_missing
	@missing=$$(for p in $(2); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "$(1): installing" $$missing; \
		apt-get -o DPkg::Lock::Timeout=600 update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q $$missing; \
	fi
endef

# Installs what building and testing need, when it is missing (a fresh Debian 12 machine).
setup:
	$(call apt_install_missing,setup,$(DEB_PACKAGES))

# The appliance image (board/rpi4/, firmware/, rootfs/etc/): see README, "The appliance image".
IMAGE_PACKAGES := mmdebstrap qemu-user-static binfmt-support qemu-system-arm u-boot-qemu u-boot-tools \
	mtools dosfstools fdisk e2fsprogs xz-utils zstd bmap-tools btrfs-progs file
setup-image: setup
	$(call apt_install_missing,setup-image,$(IMAGE_PACKAGES))
	@test -e /proc/sys/fs/binfmt_misc/register || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	@grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || update-binfmts --enable qemu-aarch64

image: setup-image deb-arm64
	board/rpi4/build-image --out $(B)$(if $(GITLAB_RUNNER_DEB), --gitlab-runner-deb $(GITLAB_RUNNER_DEB))

# Builds the image (the Debian part is cached in $(B)/image-cache/), inspects it and boots it under
# qemu with a test SSD; the SSD's arm64 chroot (cached in tests/cache/) is made while the image builds:
# both mostly wait on emulated dpkg runs that use one core each.
check-image: all setup-image
	@python3 tests/image/check_image.py --build $(B) --prepare-ssd & ssd=$$!; \
	$(MAKE) image; r=$$?; wait $$ssd || r=1; exit $$r
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
	$(MAKE) check-network

# Network modes against a world of network namespaces the test makes (tests/network/run.py).
check-network: all
	python3 tests/network/run.py --build $(B)

# Fault injection (tests/faults/run.py): kill -9 and SIGTERM inside prepare, run and cleanup, concurrent
# gc, a full disk, on both backends. FAULTS_TRIALS scales it (a few minutes on 2 cores as it is);
# FAULTS_SEED=N replays a run's random choices (its seed is printed first).
check-faults: all
	python3 tests/faults/run.py --build $(B)

# Not in make check: SOAK_JOBS whole jobs, SOAK_CONCURRENCY at once, on each backend; then the census of
# what could leak (see tests/faults/soak.py).
SOAK_JOBS ?= 200
SOAK_CONCURRENCY ?= 8
soak: all
	python3 tests/faults/run.py --build $(B) --soak $(SOAK_JOBS) --concurrency $(SOAK_CONCURRENCY)

# Fuzzers: libFuzzer with ASan/UBSan, over the same archives.
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60

build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(ALL_SRC) $(wildcard src/*/*.h)
	$(MAKE) -s B=build-fuzz CC=clang SANITIZE='$(FUZZ_SAN)' archives
	clang $(CPPFLAGS) $(call includes,tests) -std=gnu11 $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(patsubst $(B)/%,build-fuzz/%,$(call archives,tests)) $(LIBS)

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
	$(MAKE) all check-unit check-asan check-fuzz check-docs
	$(MAKE) check-integration
	$(MAKE) check-faults
	$(MAKE) check-bench
	$(MAKE) check-deb
	$(MAKE) check-image

demo: setup all
	tests/demo.sh $(B)

bench: setup all
	tests/bench.sh $(B)

# The bench once, quickly (one round, no warm-up, no timing assertion): that it still works.
check-bench: all
	BENCH_SMOKE=1 tests/bench.sh $(B)

# Man pages, from scdoc sources.
MAN_PAGES := $(patsubst man/%.scd,$(B)/man/%,$(wildcard man/*.scd))
man: $(MAN_PAGES)

$(B)/man/%: man/%.scd
	@mkdir -p $(@D)
	scdoc <$< >$@

# Everything under rootfs/usr is the package's (rootfs/etc is the appliance image's only). An existing
# configuration file is kept.
install: all man
	install -D -m 0755 $(B)/nspawn-runner $(DESTDIR)$(PREFIX)/bin/nspawn-runner
	install -D -m 0755 $(B)/nspawn-runnerd $(DESTDIR)$(PREFIX)/bin/nspawn-runnerd
	install -D -m 0755 $(B)/nspawn-runner-hwtest $(DESTDIR)$(PREFIX)/bin/nspawn-runner-hwtest
	install -D -m 0755 $(B)/nspawn-run $(DESTDIR)$(PREFIX)/bin/nspawn-run
	install -D -m 0755 $(B)/nspawn-runner-init $(DESTDIR)$(LIBEXECDIR)/nspawn-runner-init
	install -D -m 0644 ansible/connection_plugins/nspawn_runner.py \
		$(DESTDIR)$(DATADIR)/ansible/connection_plugins/nspawn_runner.py
	cd rootfs/usr && find . -path ./lib/systemd/system -prune -o -type f -print | while read -r f; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/$$f" || exit 1; done
	for f in rootfs/usr/lib/systemd/system/*; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(SYSTEMDUNITDIR)/$${f##*/}" || exit 1; done
	for m in $(MAN_PAGES); do \
		install -D -m 0644 $$m "$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}" || exit 1; done
	install -D -m 0644 completion/nspawn-runner.bash $(DESTDIR)$(BASHCOMPDIR)/nspawn-runner
	install -D -m 0644 completion/nspawn-run.bash $(DESTDIR)$(BASHCOMPDIR)/nspawn-run
	install -D -m 0440 conf/nspawn-run.sudoers $(DESTDIR)$(SYSCONFDIR)/sudoers.d/nspawn-run
	[ -e $(DESTDIR)$(SYSCONFDIR)/nspawn-runner/nspawn-runner.conf ] || \
		install -D -m 0644 conf/nspawn-runner.conf $(DESTDIR)$(SYSCONFDIR)/nspawn-runner/nspawn-runner.conf

# The Debian package, built from a copy of the tree in $(B)/deb-src (this tree's build dirs are not
# touched) into $(B)/deb/: `deb` for this machine's architecture, `deb-arm64` cross-compiled.
DEB_SRC := $(B)/deb-src/nspawn-runner-$(VERSION)
define build_deb
	rm -rf $(B)/deb-src && mkdir -p $(DEB_SRC) $(B)/deb
	tar -c --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./tests/cache \
		--exclude=__pycache__ . | tar -x -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -uc -us -Jauto $(1) >../build.log 2>&1 || \
		{ tail -30 ../build.log; echo "dpkg-buildpackage failed: see $(B)/deb-src/build.log"; exit 1; }
	mv $(B)/deb-src/*.deb $(B)/deb-src/*.buildinfo $(B)/deb-src/*.changes $(B)/deb/
	@ls -1 $(B)/deb/*.deb
endef

setup-deb:
	$(call apt_install_missing,setup-deb,$(DEB_BUILD_PACKAGES))

# A fresh Debian 12 x86_64 machine can cross-build for arm64 after this.
setup-cross: setup-deb
	@dpkg --print-foreign-architectures | grep -qx $(CROSS_ARCH) || \
		{ echo "setup-cross: dpkg --add-architecture $(CROSS_ARCH)"; dpkg --add-architecture $(CROSS_ARCH); }
	$(call apt_install_missing,setup-cross,$(CROSS_PACKAGES))

deb: setup-deb
	$(call build_deb,)

deb-arm64: setup-cross
	$(call build_deb,-a $(CROSS_ARCH))

# Man pages, completion and configuration template against the option and key tables in the code.
check-docs: $(B)/nspawn-runner
	tests/package/check-docs.sh $(B)

# Builds the native package and inspects it.
check-deb: deb
	$(call apt_install_missing,check-deb,file man-db lintian)
	tests/package/check-deb.sh $(B)/deb/nspawn-runner_$(VERSION)_$$(dpkg --print-architecture).deb

clean:
	rm -rf build build-asan build-fuzz
