#!/usr/bin/env bats
# The flags every script takes (docs/architecture.md, command line): --help,
# --json, --stacks-dir, --yes (a no-op where nothing asks) and, where it
# changes anything, --dry-run. Scripts are discovered from scripts/, so a new
# script is held to the same rules without touching this file.

load helpers

# Scripts that change nothing: --dry-run has no meaning for them. Every other
# script, a new one included, must take it.
# status writes only the reports it is asked for (--html, --prom), as verify writes its record.
READ_ONLY=(verify inspect drift lint status)

# What a script needs besides --stack to get as far as reading its stack file.
declare -gA NEEDS=([verify]="--backup latest" [restore]="--backup latest" [runbook]="restore-drill" [secrets]="init")

read_only() {
  local r
  for r in "${READ_ONLY[@]}"; do [[ "$r" == "$1" ]] && return 0; done
  return 1
}

setup() {
  common_setup
  DEPLOYED=()
}

teardown() {
  if [[ ${#DEPLOYED[@]} -gt 0 ]]; then docker-compose "${DEPLOYED[@]}" down --volumes >/dev/null 2>&1 || true; fi
}

# --help: exit 0, the usage, and every common flag listed.
help_lists_the_common_flags() { # NAME
  run --separate-stderr node "scripts/$1.mjs" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/$1.mjs"* ]]
  [[ "$output" == *"-h, --help"* ]]
  [[ "$output" == *"    --json "* ]]
  [[ "$output" == *"    --stacks-dir DIR "* ]]
  [[ "$output" == *"-y, --yes "* ]]
  if ! read_only "$1"; then [[ "$output" == *"    --dry-run "* ]]; fi
}

# FLAG gets past the parser: the script goes on to read the stack file, which
# is broken on purpose, and stops there with exit 2 naming file:line:column (an
# unknown flag would stop it earlier, naming the flag). The stacks directory
# comes from STOWAGE_STACKS_DIR, or from --stacks-dir when that is the flag.
takes_the_flag() { # NAME FLAG
  local stacks args
  stacks="$(write_broken_stack)"
  # shellcheck disable=SC2206 # NEEDS holds separate words
  args=(${NEEDS[$1]:-} --stack shop-dev)
  if [[ "$2" == --stacks-dir ]]; then
    run --separate-stderr node "scripts/$1.mjs" "${args[@]}" --stacks-dir "$stacks"
  else
    run --separate-stderr env STOWAGE_STACKS_DIR="$stacks" node "scripts/$1.mjs" "${args[@]}" "$2"
  fi
  echo "$stderr"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
  if [[ "$2" == --json ]]; then
    # Exactly one JSON document on stdout.
    run jq -e --slurp 'length == 1 and .[0].error.kind == "invalid-stack-file"' <<<"$output"
    [ "$status" -eq 0 ]
  fi
}

for script in "$BATS_TEST_DIRNAME"/../../scripts/*.mjs; do
  name="$(basename "$script" .mjs)"
  bats_test_function --description "$name.mjs --help lists --help, --json, --stacks-dir, --yes and --dry-run where it changes anything" -- help_lists_the_common_flags "$name"
  for flag in --json --stacks-dir --yes --dry-run; do
    if [[ "$flag" == --dry-run ]] && read_only "$name"; then continue; fi
    bats_test_function --description "$name.mjs takes $flag" -- takes_the_flag "$name" "$flag"
  done
done

@test "the read-only list names scripts that exist" {
  for name in "${READ_ONLY[@]}"; do [ -f "scripts/$name.mjs" ]; done
}

# The eight scripts that once refused --yes, on a deployed stack: each does its
# job with --yes exactly as without it.
@test "backup, verify, fix-permissions, disk-usage, inspect, drift, lint and compose work with --yes" {
  APP="stwflags$RANDOM$RANDOM"
  stacks="$BATS_TEST_TMPDIR/stacks"
  mkdir -p "$stacks"
  cat >"$stacks/$APP.yaml" <<YAML
app: $APP
helper: { image: stowage-test/busybox:1 }
volumes:
  data: { owner: "1000:1000", mode: "0750" }
services:
  app:
    image: stowage-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    mounts: [data:/data]
    statePaths: [/data]
environments:
  dev: {}
YAML
  S=(--stack "$APP-dev" --stacks-dir "$stacks")
  out="$BATS_TEST_TMPDIR/compose"

  run --separate-stderr node scripts/compose.mjs "${S[@]}" --out "$out" --yes
  [ "$status" -eq 0 ]
  [ -f "$out/$APP.yml" ]
  DEPLOYED=(-p "$APP" -f "$out/$APP.yml" -f "$out/$APP.dev.yml")
  docker-compose "${DEPLOYED[@]}" up -d >/dev/null 2>&1

  run --separate-stderr node scripts/drift.mjs "${S[@]}" --yes
  echo "$output $stderr"
  [ "$status" -eq 0 ]
  run --separate-stderr node scripts/fix-permissions.mjs "${S[@]}" --yes
  [ "$status" -eq 0 ]
  run --separate-stderr node scripts/backup.mjs "${S[@]}" --to "$BATS_TEST_TMPDIR/backups" --yes --json
  [ "$status" -eq 0 ]
  set_path="$(jq -r .path <<<"$output")"
  [ -f "$set_path/manifest.json" ]
  run --separate-stderr node scripts/verify.mjs "${S[@]}" --backup "$set_path" --yes
  [ "$status" -eq 0 ]
  run --separate-stderr node scripts/inspect.mjs "${S[@]}" --volume data ls --yes
  [ "$status" -eq 0 ]
  run --separate-stderr node scripts/disk-usage.mjs "${S[@]}" --history "$BATS_TEST_TMPDIR/history.json" --yes
  [ "$status" -eq 0 ]
  [ -f "$BATS_TEST_TMPDIR/history.json" ]
  run --separate-stderr node scripts/lint.mjs "${S[@]}" --yes
  [ "$status" -eq 0 ]
}

@test "lint.mjs prints the same with --yes as without" {
  run --separate-stderr node scripts/lint.mjs --json
  [ "$status" -eq 0 ]
  without="$output"
  run --separate-stderr node scripts/lint.mjs --json --yes
  [ "$status" -eq 0 ]
  [ "$output" == "$without" ]
}

@test "compose.mjs --dry-run lists the files it would write and writes none" {
  out="$BATS_TEST_TMPDIR/out"
  run --separate-stderr node scripts/compose.mjs --stack pim-dev --out "$out" --dry-run --json
  [ "$status" -eq 0 ]
  run jq -e --arg out "$out" '.dryRun == true and .wouldWrite == [$out + "/pim.yml", $out + "/pim.dev.yml", $out + "/pim.prod.yml"]' <<<"$output"
  [ "$status" -eq 0 ]
  [ ! -e "$out" ]
}

@test "compose.mjs --dry-run on current files has nothing to write" {
  run --separate-stderr node scripts/compose.mjs --dry-run
  [ "$status" -eq 0 ]
  [[ "$output" == *"already current; nothing to write"* ]]
}

@test "compose.mjs --check with --dry-run exits 2" {
  run --separate-stderr node scripts/compose.mjs --check --dry-run
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--check and --dry-run both write nothing: choose one"* ]]
}

@test "runbook.mjs --render-docs --dry-run lists the pages it would write and writes none" {
  docs="$BATS_TEST_TMPDIR/docs"
  run --separate-stderr node scripts/runbook.mjs --render-docs --docs-dir "$docs" --dry-run --json
  [ "$status" -eq 0 ]
  run jq -e '.dryRun == true and (.wouldWrite | length) == (.files | length) and (.files | length) > 0' <<<"$output"
  [ "$status" -eq 0 ]
  [ ! -e "$docs" ]
}

@test "disk-usage.mjs --dry-run measures and reports but writes neither history nor metrics" {
  APP="stwflagsdu$RANDOM$RANDOM"
  write_one_volume_stack "$APP"
  run --separate-stderr node scripts/disk-usage.mjs --stack "$APP-dev" --stacks-dir "$BATS_TEST_TMPDIR/stacks" \
    --history "$BATS_TEST_TMPDIR/history.json" --prom "$BATS_TEST_TMPDIR/m.prom" --dry-run --json
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"dry run: nothing written; without --dry-run this run's sample goes to $BATS_TEST_TMPDIR/history.json and the metrics to $BATS_TEST_TMPDIR/m.prom"* ]]
  run jq -e '.dryRun == true and (.filesystems | length) >= 1 and .history.samples == 0' <<<"$output"
  [ "$status" -eq 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/history.json" ]
  [ ! -e "$BATS_TEST_TMPDIR/m.prom" ]
}
