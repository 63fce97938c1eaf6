# experiments/fanout.mk - train the per-category models concurrently, then
# evaluate them all into one table (docs/fan-out.md).
#
#   make -f experiments/fanout.mk -j3                  the 15 MVTec AD categories, 3 at a time
#   make -f experiments/fanout.mk -j2 CATEGORIES="bottle cable" SETS="--set train.iterations=500"
#   make -f experiments/fanout.mk -j4 GPUS="0 1 2 3"   one category per GPU
#   make -f experiments/fanout.mk status               done, interrupted, failed, not started
#
# Targets: all (default: train, then table), train, table (train, then table),
# table-only (evaluate what is trained), status, clean-state.
# Each category runs `ddad-train CONFIG_DIR/<category>.yaml --resume` with
# --set threads=THREADS, its output appended to OUT/<category>.log. A category
# that finished leaves OUT/<category>.done and is skipped next time (delete it,
# or touch the config, to train it again); an interrupted or failed one is
# continued with --resume by the next make. A failure does not stop the other
# categories: it is recorded in OUT/<category>.failed, the table is printed for
# the rest, and make ends with a summary naming the failed categories and a
# non-zero exit status (2, make's code for a failed recipe). `table` runs `ddad-eval --all-categories` (also into
# OUT/table.txt).
#
# Variables:
#   CATEGORIES   category names, CONFIG_DIR/<name>.yaml each (default: MVTec AD's 15)
#   CONFIG_DIR   configs
#   BUILD, BIN   the programs are BIN/ddad-train, BIN/ddad-eval (BIN = BUILD/bin)
#   OUT          logs and state (runs/fanout)
#   SETS         extra overrides for every program, e.g. SETS="--set run.dir=/scratch/runs"
#   CORES        cores to share out (nproc)
#   THREADS      threads per training job (CORES / parallel jobs, at least 1; the
#                jobs are make's -j, at most the number of categories)
#   EVAL_THREADS threads of the evaluation, which runs alone (CORES)
#   GPUS         CUDA device numbers; each job takes a free one (a lock file in
#                OUT), sees only it (CUDA_VISIBLE_DEVICES) and trains with
#                --device cuda. Use -j no larger than the number of GPUs.

MVTEC_CATEGORIES := bottle cable capsule carpet grid hazelnut leather metal_nut pill screw tile toothbrush transistor wood zipper
CATEGORIES ?= $(MVTEC_CATEGORIES)
CONFIG_DIR ?= configs
BUILD      ?= build
BIN        ?= $(BUILD)/bin
TRAIN      ?= $(BIN)/ddad-train
EVAL       ?= $(BIN)/ddad-eval
OUT        ?= runs/fanout
SETS       ?=
GPUS       ?=
CORES      ?= $(shell nproc 2>/dev/null || echo 1)
EVAL_THREADS ?= $(CORES)

# make's -jN is visible in MAKEFLAGS only while recipes run, so these are
# expanded there ("=", not ":="). Plain -j (no limit) means all categories at once.
N_CATEGORIES = $(words $(CATEGORIES))
JOBS_FLAG = $(filter -j%,$(MAKEFLAGS))
JOBS = $(if $(JOBS_FLAG),$(or $(patsubst -j%,%,$(JOBS_FLAG)),$(N_CATEGORIES)),1)
THREADS ?= $(shell j=$(JOBS); n=$(N_CATEGORIES); [ $$j -le $$n ] || j=$$n; [ $$j -ge 1 ] || j=1; \
                   t=$$(( $(CORES) / j )); [ $$t -ge 1 ] || t=1; echo $$t)

SHELL := /bin/sh
.PHONY: all train table table-only status clean-state
.SUFFIXES:

ifeq ($(strip $(CATEGORIES)),)
$(error fanout: CATEGORIES is empty)
endif
missing_configs := $(filter-out $(patsubst $(CONFIG_DIR)/%.yaml,%,$(wildcard $(CATEGORIES:%=$(CONFIG_DIR)/%.yaml))),$(CATEGORIES))
ifneq ($(missing_configs),)
$(error fanout: no config for $(missing_configs) (looked for $(CONFIG_DIR)/<category>.yaml; set CONFIG_DIR or CATEGORIES))
endif

DONE := $(CATEGORIES:%=$(OUT)/%.done)

# The exit status of the whole fan-out: the failed categories, named, with the
# last lines of each one's last attempt (without ddad-train's config table).
define summary
failed=; for c in $(CATEGORIES); do [ -f '$(OUT)/'$$c.failed ] && failed="$$failed $$c"; done; \
n=$$(echo $$failed | wc -w); \
if [ $$n -eq 0 ]; then echo "fanout: all $(N_CATEGORIES) categories trained (logs in $(OUT))" >&2; \
else \
  echo "fanout: $$n of $(N_CATEGORIES) categories FAILED:$$failed" >&2; \
  for c in $$failed; do \
    e=$$(cat '$(OUT)/'$$c.failed); [ "$$e" != 8 ] || e="8 (interrupted, checkpoint written)"; \
    echo "  $$c: ddad-train exit $$e, log $(OUT)/$$c.log; its last lines:" >&2; \
    awk '/^== [0-9]/ { t = "" } !/^(== |[|+])/ { t = t "    " $$0 "\n" } END { printf "%s", t }' '$(OUT)/'$$c.log | tail -n 3 >&2; \
  done; \
  echo "fanout: fix them and rerun the same make command (finished categories are skipped, the rest resume)" >&2; \
fi
endef

all: $(DONE)
	@rc=0; $(run_eval) || rc=$$?; $(summary); if [ $$n -ne 0 ] || [ $$rc -ne 0 ]; then exit 1; fi

train: $(DONE)
	@$(summary); [ $$n -eq 0 ]

table: $(DONE)
	@$(run_eval)

# The evaluation alone, of whatever is trained (ddad-eval notes the rest).
table-only:
	@$(run_eval)

comma := ,
empty :=
space := $(empty) $(empty)
eval_device = $(if $(GPUS),CUDA_VISIBLE_DEVICES=$(firstword $(GPUS)) )
eval_flags = $(if $(GPUS),--device cuda)

# ddad-eval --all-categories over CATEGORIES: the table on stdout and in
# OUT/table.txt; fails with ddad-eval's exit status.
define run_eval
mkdir -p '$(OUT)'; \
echo "fanout: evaluating $(N_CATEGORIES) categories with $(EVAL_THREADS) threads" >&2; \
erc=0; $(eval_device)$(EVAL) --all-categories --config-dir '$(CONFIG_DIR)' \
  --categories '$(subst $(space),$(comma),$(strip $(CATEGORIES)))' \
  --set threads=$(EVAL_THREADS) $(eval_flags) $(SETS) --quiet > '$(OUT)/table.txt.part' || erc=$$?; \
cat '$(OUT)/table.txt.part'; mv '$(OUT)/table.txt.part' '$(OUT)/table.txt'; \
if [ $$erc -ne 0 ]; then echo "fanout: ddad-eval exit $$erc" >&2; fi; [ $$erc -eq 0 ]
endef

# One category. The recipe itself never fails, so that make keeps starting the
# other categories; the outcome is the .done or .failed file.
$(OUT)/%.done: $(CONFIG_DIR)/%.yaml
	@mkdir -p '$(OUT)'
	@rm -f '$(OUT)/$*.failed'
	@echo "fanout: $* started, threads=$(THREADS), log $(OUT)/$*.log" >&2
	@log='$(OUT)/$*.log'; \
	dev=; gpu_env=; $(if $(GPUS),$(acquire_gpu)) \
	echo "== $$(date '+%Y-%m-%d %H:%M:%S') $$gpu_env$(TRAIN) $< --resume --set threads=$(THREADS) $$dev $(SETS)" >> "$$log"; \
	rc=0; $(TRAIN) '$<' --resume --set threads=$(THREADS) $$dev $(SETS) >> "$$log" 2>&1 || rc=$$?; \
	echo "== exit $$rc" >> "$$log"; \
	if [ $$rc -eq 0 ]; then touch '$@'; echo "fanout: $* done" >&2; \
	else echo $$rc > '$(OUT)/$*.failed'; \
	  if [ $$rc -eq 8 ]; then echo "fanout: $* interrupted (ddad-train exit 8, checkpoint written), log $$log" >&2; \
	  else echo "fanout: $* FAILED (ddad-train exit $$rc), log $$log" >&2; fi; fi

# Takes the first GPU of GPUS whose lock (OUT/.gpu<N>.lock) is free, waiting
# while all are taken; the lock lives as long as the recipe's shell (fd 9).
define acquire_gpu
gpu=; while [ -z "$$gpu" ]; do \
  for g in $(GPUS); do exec 9> '$(OUT)/.gpu'$$g.lock; if flock -n 9; then gpu=$$g; break; fi; done; \
  [ -n "$$gpu" ] || sleep 2; \
done; \
export CUDA_VISIBLE_DEVICES=$$gpu; dev='--device cuda'; gpu_env="CUDA_VISIBLE_DEVICES=$$gpu "; \
echo "fanout: $* on GPU $$gpu" >&2;
endef

status:
	@for c in $(CATEGORIES); do \
	  if [ -f '$(OUT)/'$$c.done ]; then s=done; \
	  elif [ "$$(cat '$(OUT)/'$$c.failed 2>/dev/null)" = 8 ]; then s="interrupted (resumes on the next make)"; \
	  elif [ -f '$(OUT)/'$$c.failed ]; then s="FAILED (exit $$(cat '$(OUT)/'$$c.failed))"; \
	  elif [ -f '$(OUT)/'$$c.log ]; then s="started (running, or interrupted: resumes on the next make)"; \
	  else s="not started"; fi; \
	  printf '%-12s %s\n' $$c "$$s"; \
	done

# Forgets what the fan-out recorded (logs, .done/.failed); the run folders and
# their checkpoints are left alone.
clean-state:
	rm -f $(CATEGORIES:%='$(OUT)/%.done') $(CATEGORIES:%='$(OUT)/%.failed') $(CATEGORIES:%='$(OUT)/%.log') \
	  '$(OUT)/table.txt' '$(OUT)'/.gpu*.lock
