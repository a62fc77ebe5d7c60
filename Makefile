# Every target sets itself up first: a fresh clone needs nothing but `make synth` or `make test`.
SHELL := /bin/bash
SITE ?= plantA
REGION ?=
VENV := .venv
PY := $(VENV)/bin/python
# Node 22 from node_modules runs jsii and the CDK CLI (the machine's Node 20 is end-of-life).
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# Defined before the rules that name it (make expands prerequisites as it reads them).
# The Iceberg Spark runtime Glue 5.1 ships (dmc_etl/catalog.py: ICEBERG_RUNTIME), for local Spark sessions.
# mvn uses the machine's Maven settings; Spark's own package resolver may not.
ICEBERG_ARTIFACT := org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0
ICEBERG_JAR := .spark-jars/iceberg-spark-runtime-3.5_2.12-1.10.0.jar
# checkov (make scan) pins boto3 1.35, networkx 2.6 and packaging 23 (ours: 1.44, 3.6, 26): its own virtual environment.
SCAN_VENV := .venv-scan

.PHONY: setup synth evidence test lint typecheck diagram plan scan schema edge-run \
        bench-synth bench-edge bench-etl bench-ingest bench-api clean

setup: $(VENV)/.installed $(SCAN_VENV)/.installed node_modules/.installed .system-packages $(ICEBERG_JAR) ## venvs, CDK CLI, Debian packages, Iceberg jar

$(VENV)/.installed: requirements.txt requirements-dev.txt edge/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SCAN_VENV)/.installed: requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(ICEBERG_JAR):
	mvn --batch-mode --quiet dependency:copy -Dartifact=$(ICEBERG_ARTIFACT) -DoutputDirectory=.spark-jars

# mosquitto (real MQTT broker for edge tests) and graphviz (diagrams), from Debian.
.system-packages: scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	@touch $@

synth: setup ## synthesize SITE (default plantA) in REGION (default: its home), gate, lint, report
	$(PY) -m tooling.synth --site $(SITE) $(if $(REGION),--region $(REGION))

# RECORDS= keeps the change records elsewhere (default cdk.out/compliance/records/SITE, which make clean removes).
evidence: setup ## make synth, plus the traceability matrix (CSV, HTML) and a change record of SITE
	$(PY) -m tooling.synth --site $(SITE) $(if $(REGION),--region $(REGION)) --evidence $(if $(RECORDS),--records $(RECORDS))

# The README's test command and CI's: the static checks first (seconds), then every test.
# pytest exits 5 when it collected nothing: that must fail, not pass.
test: lint typecheck ## ruff lint and format check, mypy, every test
	$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

schema: setup ## regenerate tenants/schema.json from the site model
	$(PY) -m site_model.schema

scan: setup ## checkov over every site's templates; failures need a reason in policies/scan_acknowledgments.py
	$(PY) -m tooling.scan

plan: setup ## streaming capacity and monthly cost of SITE
	$(PY) -m site_model.plan $(SITE)

diagram: setup ## PNG of SITE's synthesized app in cdk.out/diagram.png
	$(PY) -m tooling.synth --site $(SITE) $(if $(REGION),--region $(REGION)) --no-lint
	$(PY) -m tooling.diagram

edge-run: setup ## the edge pipeline standalone: simulator -> local mosquitto (mutual TLS)
	$(PY) -m edge.run_local

bench-synth: setup
	$(PY) benchmarks/bench_synth.py

bench-edge: setup
	$(PY) benchmarks/bench_edge.py

bench-etl: setup
	$(PY) benchmarks/bench_etl.py

bench-ingest: setup
	$(PY) benchmarks/bench_ingest.py

bench-api: setup ## site API handlers in-process against moto: latency, requests/s, cold start
	$(PY) benchmarks/bench_api.py

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache build
