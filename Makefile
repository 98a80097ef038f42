# make run   - create .venv, install, check Qt's system libraries, open CV Studio on the built-in dataset
# make test  - create .venv, install, run the whole test suite (offscreen Qt)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch wheels that lie on these machines' disks: x86_64 gets the CUDA build
# (runs on the CPU too), aarch64 a CPU build. pyproject.toml admits both.
ARCH := $(shell uname -m)
ifeq ($(ARCH),aarch64)
TORCH_PINS := torch==2.9.1 torchvision==0.24.1
else
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
endif

.PHONY: run test bench screenshots clean package package-test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# preflight: Qt's platform plugin needs system libraries (libxcb-cursor0 ...); when one is missing
# it prints this distribution's install command and stops (exit 3) instead of Qt's abort
run: $(STAMP)
	@$(PY) -m cvstudio.preflight
	$(PY) -m cvstudio

test: $(STAMP)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/classify_speed.py

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) docs/screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# make package       - dist/cvstudio/ (PyInstaller one-folder app), a .tar.gz with install.sh and a .deb;
#                      builds in its own venv, packaging/.build-venv (README: "Installing / packaging")
# make package-test  - runs the built app outside any venv: bundle contents, `cvstudio --self-test`
# PACKAGE_VARIANT=cuda keeps the NVIDIA libraries (GPU training); TORCH_INDEX_URL=... takes torch from that index
PACKAGE_VARIANT ?= cpu
TORCH_INDEX_URL ?=

package:
	PYTHON=$(PYTHON) CVSTUDIO_VARIANT=$(PACKAGE_VARIANT) TORCH_INDEX_URL=$(TORCH_INDEX_URL) bash packaging/build.sh

package-test:
	bash packaging/package_test.sh
