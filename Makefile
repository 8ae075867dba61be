# Thin entry points; each calls into the code. See README.md.
SHELL := /bin/bash
TARGET := x86_64-unknown-linux-musl
# Static, non-PIE (no dynamic relocations: -95 KB), on musl (docs/design.md, "Binary size": the
# agent is 1.17 MB on musl, 1.77 MB on static glibc). Linked by Debian's musl-gcc (musl-tools,
# make setup) against Debian's musl; the musl std asks for -lunwind, which an empty archive
# satisfies: nothing in the agent unwinds (sys::no_unwinder).
MUSL_STUB := $(CURDIR)/target/musl-stub
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static -C linker=musl-gcc -C link-self-contained=no -L $(MUSL_STUB)
# std is rebuilt with nightly for size (no musl target is installed here, and a prebuilt std
# would not be built for size): no unwind tables, no backtrace symbolizer, panics abort at once
# without a message, no .eh_frame (a linker script discards it), and `--cfg ha_size_build` for
# sys::no_unwinder.
SIZE_RUSTFLAGS := $(STATIC_RUSTFLAGS) -C force-unwind-tables=no -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-T,$(CURDIR)/agent/link/no-eh-frame.ld -Zunstable-options -C panic=immediate-abort -Zlocation-detail=none --cfg ha_size_build
SIZE_BUILD_STD := -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size
AGENT_BIN := target/$(TARGET)/release/ha-agent
# Binary size budget of the static agent (issue 2): 1.5 MiB; over it fails the build
# (ENFORCE_BUDGET=0 only reports it).
AGENT_BUDGET_BYTES := 1572864
ENFORCE_BUDGET ?= 1
# Seconds per fuzz target in make test (a smoke run: each target runs and finds nothing quickly;
# longer runs with make fuzz-smoke FUZZ_SECONDS=n). 10 s keeps make test under 45 minutes with the
# Debian rack.
FUZZ_SECONDS ?= 10

# Every shell script of the repository (the overlay's init scripts have no .sh suffix).
SHELL_SCRIPTS := $(wildcard scripts/*.sh tests/vm/*.sh tests/buildroot/*.sh board/*/*.sh packaging/*.sh tests/pacemaker/*.sh) tests/vm/stage1-init \
	packaging/ha-agent.bash-completion \
	$(wildcard rootfs-overlay/etc/init.d/* rootfs-overlay/usr/sbin/*) $(wildcard tests/vm/rack/*-resource) \
	$(wildcard tests/vm/debian-node/*.sh tests/vm/debian-node/overlay/usr/local/sbin/* tests/vm/debian-node/overlay-pacemaker/usr/local/sbin/*)

PHONY_EXTRA := test-buildroot-policy check-buildroot
.PHONY: $(PHONY_EXTRA) help setup agent agent-size-report cli-docs packages test-packages demo-process test test-fast test-process test-netns test-slow-disk test-sim fuzz-smoke demo sim bench image test-image test-update test-watchdog test-gpio test-fence-pacemaker test-journal-vm shellcheck check-layers check-mib clean rack test-rack

help:
	@echo "make demo   - boot the virtual rack (the witness and two Debian servers running PostgreSQL in QEMU), show the status and the client's rows, cut the active server's power and print the failover timeline (make demo-appliance: the appliance nodes; make demo-process: agent processes only)"
	@echo "make test   - install what is needed, then run every test (fast suite, process tests, netns, fuzz smoke, static build)"
	@echo "make agent  - build the static, stripped release agent and print its size (make agent-size-report: where its bytes go)"
	@echo "make packages - the servers' .deb and .rpm of the agent into out/packages (make test-packages: install them in a Debian 12 chroot)"
	@echo "make sim    - the deterministic cluster simulator (SEEDS=n, FIRST=s, or SEED=n for one trace)"
	@echo "make image  - build the appliance's flashable disk.img (GPT, GRUB, root slots A/B, data) and the -kernel test image into out/image; print the sizes (docs/image.md)"
	@echo "make test-image - boot disk.img through OVMF and GRUB in QEMU (TCG): first boot, login, status, read-only root, persistence"
	@echo "make test-update - field updates of disk.img: refused files, power cut while writing, commit, rollback"
	@echo "make test-gpio - the GPIO relay driver on a gpio-sim chip in QEMU: read-back, fence, stuck relay, active_low"
	@echo "make test-fence-pacemaker - (root) Pacemaker's fencer fences through fence_rackha and a witness, in namespaces (docs/fence-agent.md)"
	@echo "make test-journal-vm - power the VM off (QMP quit) while the agent journals; every acknowledged record survives"
	@echo "make test-rack-pacemaker - the virtual rack with Debian 12 nodes under Pacemaker + Corosync fenced through the box's fence service: one power cut (SCENARIO=lan-split|all, REPEAT=n, PCMK_TIMING=default|tuned; not in make test)"
	@echo "make test-rack-debian - the virtual rack with Debian 12 nodes running PostgreSQL: the power cut (SCENARIO=name|all, REPEAT=n, TIMING=default|fast, RESOURCES=ocf|builtin; make test runs all)"
	@echo "make test-rack-debian-builtin - the Debian rack with the group through the agent's built-in types: switchover, power cut, postmaster crashes (in make test)"
	@echo "make rack   - the virtual rack with the appliance's test image as nodes (the ledger) and its scenarios (SCENARIO=name for one; docs/rack.md)"
	@echo "make bench  - benchmarks into out/bench.json and a table (docs/bench.md; BENCH_QUICK=1 for a short run)"

# Idempotent installation of what the tests need (Debian packages; cargo-fuzz).
setup:
	@bash scripts/setup.sh

agent: setup
	@command -v musl-gcc >/dev/null || { echo "agent: musl-gcc missing (make setup installs musl-tools)"; exit 1; }
	@rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
	  || { echo "agent: nightly's rust-src missing (make setup adds it)"; exit 1; }
	@mkdir -p $(MUSL_STUB) && { [ -f $(MUSL_STUB)/libunwind.a ] || ar rc $(MUSL_STUB)/libunwind.a; }
	RUSTFLAGS='$(SIZE_RUSTFLAGS)' cargo +nightly build $(SIZE_BUILD_STD) --release --locked --target $(TARGET) -p ha-agent
	@ENFORCE_BUDGET=$(ENFORCE_BUDGET) bash scripts/check-agent-binary.sh $(AGENT_BIN) $(AGENT_BUDGET_BYTES)

# Where the agent's bytes go: the size build's flags, symbols kept (profile `symbols`), then the
# largest functions and the bytes per crate (docs/design.md, "Binary size"; nightly and rust-src).
agent-size-report: agent
	RUSTFLAGS='$(SIZE_RUSTFLAGS)' cargo +nightly build $(SIZE_BUILD_STD) --profile symbols --locked --target $(TARGET) -p ha-agent
	@bash scripts/agent-size-report.sh target/$(TARGET)/symbols/ha-agent $(or $(TOP),40)

# The man page's generated sections and the bash completion, rewritten from the command table by
# the build's tool (an example target: not in the shipped agent, whose size has a budget).
cli-docs:
	cargo build --locked -p ha-agent --example generate-docs
	target/debug/examples/generate-docs man < packaging/ha-agent.8 > packaging/ha-agent.8.new
	mv packaging/ha-agent.8.new packaging/ha-agent.8
	target/debug/examples/generate-docs bash-completion > packaging/ha-agent.bash-completion

# The servers' packages (docs: packaging/ha-agent.8): ha-agent_<version>_amd64.deb and
# ha-agent-<version>-1.x86_64.rpm of the static agent, its systemd unit and a template
# configuration, into out/packages.
packages: agent
	@bash packaging/build-packages.sh $(AGENT_BIN)

# Builds the packages, checks their file lists, and installs, verifies, upgrades and removes
# them in a Debian 12 root file system made by mmdebstrap (needs root; cached in out/).
test-packages: agent
	@bash packaging/test-packages.sh $(AGENT_BIN)

test-fast: check-layers
	cargo test --locked -p ha-core
	cargo test --locked -p ha-agent
	cargo test --locked -p ha-tests --lib
	@# The safety rules as specifications: pure and deterministic (the simulator), so fast.
	cargo test --locked -p ha-tests --test authority_spec
	@# Every configuration the scripts and the rack get from the configs tool passes
	@# check-config; rack.py's configuration step runs on its own (no QEMU).
	cargo build --locked -p ha-agent
	cargo test --locked -p ha-tests --test generated_configs
	python3 tests/vm/rack/test_rack_configs.py

# Real agent processes, pty pairs and UDP on loopback; one rack at a time. As root the tests
# (their cable proxies and the agents they start, which inherit it) run at SCHED_FIFO 10, as
# the agent would with `realtime_priority`: other work on the machine cannot starve them into
# false failovers (docs/performance.md). Built first, so the compilers run at normal priority.
RT_TESTS := $(shell [ "$$(id -u)" = 0 ] && command -v chrt >/dev/null && echo chrt -f 10)
test-process:
	cargo build --locked -p ha-agent
	cargo test --locked -p ha-tests --tests --no-run
	@# Right after a build the kernel is still writing back gigabytes; the agents' durable
	@# writer copes (make test-slow-disk), but the tests' own timing bounds start cleaner.
	sync
	$(RT_TESTS) cargo test --locked -p ha-tests --tests -- --test-threads=1

# Raw Ethernet, and the built-in ipaddr resource (netlink, gratuitous ARP, neighbour
# advertisement), across two network namespaces; the built-in filesystem resource (mount,
# umount, holders of a busy file system signalled) on a loop device in private mount
# namespaces; must not skip here (CI runs as root).
test-netns:
	HA_REQUIRE_NETNS=1 cargo test --locked -p ha-agent --test raw_eth_netns -- --nocapture
	HA_REQUIRE_NETNS=1 cargo test --locked -p ha-agent --test ipaddr_netns -- --nocapture
	HA_REQUIRE_MOUNTNS=1 cargo test --locked -p ha-agent --test filesystem_mountns -- --nocapture

# A member whose state directory sits on a throttled loop device (root: losetup, mount, a
# blkio cgroup): its heartbeats never wait for the disk and its journal loses nothing.
test-slow-disk:
	cargo build --locked -p ha-agent
	cargo test --locked -p ha-tests --test process_slow_disk --no-run
	@# As in test-process: the build's writeback must not be what slows the loop device.
	sync
	cargo test --locked -p ha-tests --test process_slow_disk -- --ignored --nocapture

# PostgreSQL 15 under Debian's unmodified resource agents (Filesystem on a loop device, IPaddr2,
# pgsql), each node's agent in its own network and mount namespace: start, local restart, move
# and power-cut failover with a client committing throughout (root; fails rather than skips here).
.PHONY: test-pgsql
test-pgsql:
	cargo build --locked -p ha-agent
	cargo test --locked -p ha-tests --test process_pgsql --no-run
	sync
	HA_REQUIRE_PGSQL=1 cargo test --locked -p ha-tests --test process_pgsql -- --ignored --nocapture --test-threads=1

fuzz-smoke:
	@bash scripts/fuzz-smoke.sh $(FUZZ_SECONDS)

test: setup shellcheck check-mib test-buildroot-policy test-fast test-process test-netns test-slow-disk test-pgsql test-fence-pacemaker test-sim agent test-packages fuzz-smoke test-image test-update test-watchdog test-gpio test-journal-vm test-rack-debian-all test-rack-debian-builtin
	@echo "make test: all passed"

# The demo in the virtual rack (docs/rack.md): boots the witness and the two Debian servers
# running PostgreSQL, shows their status and the client's rows per second, cuts the power of the
# active server and prints the timeline with the database back, the rows acknowledged and lost,
# the measured times and the traps received. make demo-appliance: the same on the appliance's
# test image with the ledger.
demo: image debian-node
	@python3 tests/vm/rack/rack.py --nodes debian --demo --work $(CURDIR)/out/rack-demo

demo-appliance: image
	@python3 tests/vm/rack/rack.py --demo --work $(CURDIR)/out/rack-demo-appliance

# The earlier demo: three agent processes linked by pty and UDP cables on this machine.
demo-process: setup
	cargo build --locked -p ha-agent -p ha-tests
	HA_AGENT_BIN=$(CURDIR)/target/debug/ha-agent cargo run --locked -q -p ha-tests --bin rack-demo

# The deterministic simulator: make sim [SEEDS=n] [FIRST=s] | make sim SEED=n (one seed, trace).
SEEDS ?= 10000
FIRST ?= 1
sim:
ifdef SEED
	cargo run --locked --profile sim -q -p ha-tests --bin sim -- --seed $(SEED) --trace
else
	cargo run --locked --profile sim -q -p ha-tests --bin sim -- --seeds $(SEEDS) --first $(FIRST)
endif

# make test's share of the simulator (docs/design.md, "The simulator"): 100000 seeds of the
# correct build (timed), then each deliberately broken build (ha-agent's core::mutation, one
# per safety rule; `sim --list-mutations` prints the arguments of each) over seeds 1..1000,
# which must find a safety violation; each prints the first seed that caught it. The peer
# check, a second line of defence, is run with N2's voiding of grants undone and the observer
# checking the invariant only; the same seeds with N2's voiding undone alone keep the invariant
# (the peer check holds it by itself). The simulator's own profile: optimised for speed, and a
# failed assertion of the core unwinds into a reported violation.
SIM_SEEDS ?= 100000
MUTATION_SEEDS ?= 1000
SIM_MUTANT = cargo run --locked --profile sim -q -p ha-tests --features mutations --bin sim --
test-sim:
	cargo run --locked --profile sim -q -p ha-tests --bin sim -- --seeds $(SIM_SEEDS)
	@set -e; mkdir -p out; $(SIM_MUTANT) --list-mutations > out/sim-mutations.txt; \
	while read -r args; do \
	  $(SIM_MUTANT) $$args --expect-violation --seeds $(MUTATION_SEEDS) < /dev/null; \
	done < out/sim-mutations.txt
	@echo "the peer check alone keeps the invariant with N2's voiding of grants undone:"
	@$(SIM_MUTANT) --mutation keep-grants-after-self-fence --invariant-only --seeds $(MUTATION_SEEDS) \
	  > out/sim-second-line.txt || { cat out/sim-second-line.txt; exit 1; }; \
	  grep -E 'simulated schedules|^violations' out/sim-second-line.txt

# Benchmarks (docs/bench.md): prints a table and writes out/bench.json (every figure, the virtual
# rack's failover and the image's boot included; about 40 minutes once the image is built). BENCH_QUICK=1 shortens the
# runs; BENCH_SKIP=detect,idle,failover,load,keepalived,trap skips sections; BENCH_RACK=0 and
# BENCH_BOOT=0 leave out the QEMU parts.
# Unless BENCH_PACEMAKER=0, the bench also runs the rack's power cut on both Debian node images
# (the agent's and Pacemaker's).
bench: image $(if $(filter 0,$(BENCH_PACEMAKER)),,debian-node debian-node-pacemaker)
	@bash scripts/bench-run.sh $(AGENT_BIN)

# The QEMU test image (docs/image.md): Debian's kernel and busybox-static, rootfs-overlay/ and the
# static agent. The Buildroot image is built in a Buildroot checkout (buildroot/, docs/image.md).
image: setup agent
	@bash tests/vm/make-image.sh

# Boots the flashable disk.img through OVMF and GRUB three times under TCG (about 1 minute) and
# checks the kernel fragment checker on Debian's kernel configuration.
test-image: image
	@bash tests/vm/check-kernel-config-test.sh
	@python3 tests/vm/boot-test.py

# Field updates of disk.img through OVMF (about 7 minutes): a corrupted and a forged update
# file refused with nothing written, a power cut while a slot is written (the old slot boots),
# power cuts inside the writes of GRUB's environment block (the mark, the commit) and a torn
# block, a good update tried once and committed, an update whose agent never starts and one
# whose agent hangs rolled back.
test-update: image
	@python3 tests/vm/update-test.py

shellcheck:
	shellcheck $(SHELL_SCRIPTS)

# The Buildroot image's post-build policy (one syslogd, a root password, the BusyBox fragment),
# on a fake target tree: no Buildroot checkout needed (tests/buildroot/post-build-test.sh).
test-buildroot-policy:
	@bash tests/buildroot/post-build-test.sh

# Buildroot's configuration step for both defconfigs in a Buildroot checkout you give
# (BUILDROOT=DIR; nothing is downloaded): every symbol kept, the agent package selected, BusyBox
# with what the overlay needs (docs/image.md, "The Buildroot image").
check-buildroot:
	@[ -n "$(BUILDROOT)" ] || { echo "check-buildroot: BUILDROOT=/path/to/buildroot (a checkout)"; exit 2; }
	@bash scripts/check-buildroot.sh $(BUILDROOT)

# The layers the compiler alone does not keep: no clock, file, socket, thread or `unsafe` in
# the pure crate ha-core, no I/O crate in its dependencies, no cycle between the top-level
# modules of ha-core or of ha-agent (scripts/check-layers.py says how the graph is derived).
check-layers:
	@python3 scripts/check-layers.py

# The MIB passes smilint -l 6 against the IETF base MIBs.
check-mib:
	@bash scripts/check-mib.sh

# The hardware watchdog in QEMU (i6300esb) on the flashable disk.img through OVMF (about 70 s):
# armed by the agent, SIGSTOP resets the VM, a clean stop does not, and the next boot reports
# the watchdog reset once.
test-watchdog: image
	@python3 tests/vm/watchdog-test.py

# The GPIO relay driver on a real kernel GPIO chip (docs/devices.md, "Testing the GPIO relay in
# QEMU"): gpio-sim, built for the image's kernel from Debian's source, on disk.img's data partition.
test-gpio: image
	@bash tests/vm/gpio-relay-test.sh

# Pacemaker's own fencer (a one-node Corosync + Pacemaker in private namespaces) fences a plug
# through fence_rackha and a running witness (docs/fence-agent.md). Needs root.
test-fence-pacemaker:
	@bash scripts/setup.sh
	cargo build --locked -p ha-agent
	cargo build --locked -p ha-tests --bin configs
	@bash tests/pacemaker/fence-rackha.sh target/debug/ha-agent

# Power-cut test of the journal (docs/journal.md): the VM is powered off through QMP while the
# agent journals; JOURNAL_VM_ROUNDS=n power-offs (default 3), JOURNAL_VM_SEED=s.
test-journal-vm: image
	@python3 tests/vm/journal-poweroff-test.py

# The virtual rack (docs/rack.md): three VMs of the test image, cables and LAN through the
# harness, a Modbus relay board powering the nodes through QMP, the ledger on a shared disk.
# make rack [SCENARIO=name] runs one scenario (after the cold start); without it, all of them.
# REPEAT=n runs the chosen scenarios n times after one cold start (make rack SCENARIO=power-cut
# REPEAT=10: the failover trials read by the benchmark from out/rack/report.json).
rack: image
	@python3 tests/vm/rack/rack.py $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(REPEAT),--repeat $(REPEAT))

test-rack: image
	@python3 tests/vm/rack/rack.py

# The virtual rack with Debian 12 nodes (docs/rack.md, "The Debian nodes"): the node image
# built by mmdebstrap from Debian's packages and the agent's .deb, cached in out/debian-node/
# by a hash of its inputs; the witness stays the appliance's test image. PostgreSQL 15 on the
# shared disk under Debian's unmodified Filesystem, pgsql and IPaddr2, a client committing rows
# through the floating IP from a network namespace on the LAN. make test-rack-debian
# [SCENARIO=name|all] [REPEAT=n] [TIMING=default|fast] [RESOURCES=ocf|builtin] (default: the power
# cut; RESOURCES=builtin runs the group through the agent's built-in types); make demo
# (demo-debian): the narrated power cut.
.PHONY: debian-node test-rack-debian test-rack-debian-all test-rack-debian-builtin demo-debian demo-appliance
debian-node: packages
	@bash tests/vm/make-debian-node.sh

test-rack-debian: image debian-node
	@python3 tests/vm/rack/rack.py --nodes debian --work $(CURDIR)/out/rack-debian \
	  $(if $(filter all,$(SCENARIO)),,--scenario $(or $(SCENARIO),power-cut)) $(if $(REPEAT),--repeat $(REPEAT)) \
	  $(if $(TIMING),--timing $(TIMING)) $(if $(RESOURCES),--resources $(RESOURCES))

# The virtual rack with Pacemaker nodes (docs/rack.md, "The Pacemaker nodes"): the Debian node
# image's Pacemaker variant (VARIANT=pacemaker, cached in out/debian-node-pacemaker/), Corosync 3
# and Pacemaker running the same group, fenced through the witness's fence service with
# fence_rackha. make test-rack-pacemaker [SCENARIO=lan-split|all] [REPEAT=n] [PCMK_TIMING=default|tuned]:
# the power cut (default), the LAN split whose fence race the box breaks, or both.
# Not part of make test (its time budget).
.PHONY: debian-node-pacemaker test-rack-pacemaker
debian-node-pacemaker: packages
	@VARIANT=pacemaker bash tests/vm/make-debian-node.sh

test-rack-pacemaker: image debian-node-pacemaker
	@python3 tests/vm/rack/rack.py --nodes pacemaker --work $(CURDIR)/out/rack-pacemaker \
	  $(if $(filter all,$(SCENARIO)),,--scenario $(or $(SCENARIO),power-cut)) \
	  $(if $(REPEAT),--repeat $(REPEAT)) $(if $(PCMK_TIMING),--pcmk-timing $(PCMK_TIMING))

# make test's rack: every scenario on the Debian nodes.
test-rack-debian-all: image debian-node
	@python3 tests/vm/rack/rack.py --nodes debian --work $(CURDIR)/out/rack-debian

# And the same group through the agent's built-in types (builtin:filesystem, builtin:pgsql,
# builtin:ipaddr): a switchover, a power cut and the postmaster's crashes (every scenario:
# make test-rack-debian SCENARIO=all RESOURCES=builtin, about 12 minutes).
test-rack-debian-builtin: image debian-node
	@python3 tests/vm/rack/rack.py --nodes debian --resources builtin --work $(CURDIR)/out/rack-debian-builtin \
	  --scenario manual-switchover --scenario power-cut --scenario db-crash

demo-debian: demo

clean:
	cargo clean
