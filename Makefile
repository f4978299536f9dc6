# SPDX-License-Identifier: GPL-2.0
# ftramp: top-level targets. The kernel build itself reads Kbuild (M=this dir).
#
#   make check        set up, build (kernel cached), run unit tests + kselftests in the VM
#   make check-debug  the same on the KASAN + kmemleak kernel flavour
#   make run          boot the VM and show ftramp at work
#   make bench        per-call and switching cost vs ftrace etc. in the VM (not a test)
#   make ret-census   which functions of the test kernel cannot take a return hook, and why
#   make lint         rustfmt --check and clippy
#   make module       build ftramp.ko and the test modules only (KDIR=<tree>: your kernel)
#   make kernel       build (or find) the cached test kernel
#   make setup        install the toolchain (Debian packages, bindgen, virtme-ng)
#
# KERNEL=6.12 or KERNEL=7.3 selects the test kernel for any target; without it `check`
# and `lint` take both and the others 6.12.

SHELL := /bin/bash
export FTRAMP_FLAVOUR ?= default

.PHONY: all setup kernel module check check-debug run bench ret-census lint clean

all: module

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/kernel.sh

module:
ifdef KDIR
	@scripts/module.sh "$(KDIR)"
else
	@scripts/setup.sh && scripts/module.sh "$$(scripts/kernel.sh)"
endif

check:
	@scripts/check.sh

check-debug:
	@FTRAMP_FLAVOUR=debug scripts/check.sh

run:
	@scripts/run.sh

bench:
	@scripts/bench.sh

ret-census:
	@scripts/ret-census.sh

lint: setup
	@set -e; for k in $${KERNEL:-6.12 7.3}; do \
	  echo "[lint] kernel $$k"; KERNEL=$$k scripts/lint.sh "$$(KERNEL=$$k scripts/kernel.sh)"; done

clean:
	@. scripts/env.sh; kb=$$(kernel_dir)/build; \
	if [ -d "$$kb" ]; then $(MAKE) -C "$$kb" M=$(CURDIR) "$${KMAKE_VARS[@]}" clean; fi
	rm -rf rust/host/target
