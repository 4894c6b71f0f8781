# ModelDeck — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
DEMO   ?= .demo-workspace
PYTEST_ARGS ?=
BUNDLE_OUT ?= dist
BUNDLE_PLATFORM ?=
BUNDLE_PYTHON ?=

.PHONY: run test test-packaging venv demo lint clean help screenshots offline-bundle \
        package check-package

help:
	@echo "make run    set up .venv and open the GUI on the living demo ($(DEMO))"
	@echo "make test   set up .venv and run the whole test suite (but the packaging builds)"
	@echo "make test-packaging  check the built app; build and install the offline bundle (PyPI, ~3 min)"
	@echo "make offline-bundle  one archive for air-gapped desktops (BUNDLE_PLATFORM=, BUNDLE_PYTHON=)"
	@echo "make package   build the desktop app into dist/ModelDeck (PyInstaller)"
	@echo "make check-package  build it, then start it offscreen on a demo and check it"
	@echo "make demo   (re)build the living demo workspace only"
	@echo "make lint   check the layering contracts"
	@echo "make screenshots  render every page of the living demo to docs/images/"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall only when the project's metadata changed.
$(VENV)/.installed-gui: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[gui]'
	@touch $@

$(VENV)/.installed-package: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[package]'
	@touch $@ $(VENV)/.installed-gui

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-gui

# The living demo: two local hosts serving with real traffic (`modeldeck demo --live`).
$(DEMO)/modeldeck.db: | $(VENV)/.installed-gui
	$(VENV)/bin/modeldeck --workspace $(DEMO) demo --live

demo: | $(VENV)/.installed-gui
	-[ -f $(DEMO)/modeldeck.db ] && $(VENV)/bin/modeldeck --workspace $(DEMO) demo --stop
	rm -rf $(DEMO)
	$(VENV)/bin/modeldeck --workspace $(DEMO) demo --live

# `demo --live` on the living demo only starts the servers that stopped (after a reboot).
run: $(VENV)/.installed-gui $(DEMO)/modeldeck.db
	$(VENV)/bin/modeldeck --workspace $(DEMO) demo --live --quiet
	$(VENV)/bin/modeldeck-gui --workspace $(DEMO)

# The packaging builds (offline bundle install, ~3 min, needs PyPI) run apart.
test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not packaging" $(PYTEST_ARGS)

test-packaging: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m packaging tests/packaging $(PYTEST_ARGS)

# dist/ModelDeck/: the desktop app (ModelDeck, the GUI; modeldeck, the CLI; the .desktop
# entry and icon), one folder, with PyInstaller; build/ is its cache (~4 min the first time)
package: $(VENV)/.installed-package
	$(PY) -m PyInstaller --noconfirm --distpath dist --workpath build packaging/modeldeck.spec

# Starts the built app offscreen on a fresh demo workspace and checks what it shows.
check-package: package
	$(PY) packaging/check_app.py

# One archive that installs ModelDeck with no network (packaging/offline_bundle.py --help).
offline-bundle: | $(PY)
	$(PY) packaging/offline_bundle.py --out $(BUNDLE_OUT) \
	  $(if $(BUNDLE_PLATFORM),--platform $(BUNDLE_PLATFORM)) \
	  $(if $(BUNDLE_PYTHON),--python $(BUNDLE_PYTHON))

# The README's pictures: every page of the living demo, on the offscreen platform.
screenshots: $(VENV)/.installed-gui $(DEMO)/modeldeck.db
	$(VENV)/bin/modeldeck --workspace $(DEMO) demo --live --quiet
	QT_QPA_PLATFORM=offscreen $(PY) packaging/screenshots.py --workspace $(DEMO) --out docs/images

lint: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests/test_layering.py -q

clean:
	-[ -f $(DEMO)/modeldeck.db ] && $(VENV)/bin/modeldeck --workspace $(DEMO) demo --stop
	rm -rf $(VENV) $(DEMO) .pytest_cache build dist *.egg-info
