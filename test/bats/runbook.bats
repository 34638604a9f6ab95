#!/usr/bin/env bats
# scripts/runbook.mjs: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
  export STOWAGE_COMPOSE=docker-compose
}

# A runbooks directory holding flaky.yaml: its step "gate" fails until
# $BATS_TEST_TMPDIR/marker exists.
write_flaky_runbook() {
  mkdir -p "$BATS_TEST_TMPDIR/runbooks"
  cat >"$BATS_TEST_TMPDIR/runbooks/flaky.yaml" <<'YAML'
runbook: flaky
title: Fails until a marker exists
description: For the tests.
vars:
  marker: { description: the marker file }
steps:
  - id: hello
    title: Say hello to {{app}}
    run: [echo, "hello {{app}}"]
  - id: gate
    title: Fail until the marker exists
    run: [test, -e, "{{var.marker}}"]
YAML
  echo "$BATS_TEST_TMPDIR/runbooks"
}

@test "runbook.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/runbook.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/runbook.mjs <name> --stack <app>-<env> [--var name=value]... [--dry-run] [--resume] [--yes] [--json]"* ]]
  [[ "$output" == *"--render-docs"* ]]
}

@test "runbook.mjs --list names every shipped runbook" {
  run --separate-stderr npx zx scripts/runbook.mjs --list
  [ "$status" -eq 0 ]
  for name in safe-update restore restore-drill missing-volumes clean-start; do
    [[ "$output" == *"$name "* ]]
  done
}

@test "runbook.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/runbook.mjs safe-update --stack pim-dev --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "runbook.mjs with an unknown runbook exits 2 and lists the known ones" {
  run --separate-stderr npx zx scripts/runbook.mjs no-such-book --stack pim-dev
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'no runbook "no-such-book"'* ]]
  [[ "$stderr" == *"safe-update"* ]]
}

@test "runbook.mjs with a value outside a variable's choices exits 2" {
  run --separate-stderr npx zx scripts/runbook.mjs restore --stack pim-dev --var mode=everything --dry-run
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--var mode=everything: use one of: full, secrets, database"* ]]
}

@test "runbook.mjs on an invalid runbook exits 2 naming file:line:column" {
  dir="$(write_flaky_runbook)"
  sed -i 's/^    run: \[test/    rnu: [test/' "$dir/flaky.yaml"
  run --separate-stderr npx zx scripts/runbook.mjs flaky --stack pim-dev --runbooks-dir "$dir" --var marker=x
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$dir/flaky.yaml:12:5: steps[1].rnu: unknown key \"rnu\""* ]]
}

@test "runbook.mjs --dry-run prints every step of safe-update and runs nothing" {
  run --separate-stderr npx zx scripts/runbook.mjs safe-update --stack pim-dev --dry-run --journal-dir "$BATS_TEST_TMPDIR/journal"
  [ "$status" -eq 0 ]
  for step in backup verify record-images pull build down up wait-healthy stop-new previous-images restore-data start-previous; do
    [[ "$output" == *" $step: "* ]]
  done
  [[ "$output" == *'docker-compose -p pim -f compose/pim.yml -f compose/pim.dev.yml up -d'* ]]
  [ ! -e "$BATS_TEST_TMPDIR/journal" ]
}

@test "runbook.mjs stops at a failing step, says how to resume, and --resume continues from it" {
  dir="$(write_flaky_runbook)"
  args=(flaky --stack pim-dev --runbooks-dir "$dir" --journal-dir "$BATS_TEST_TMPDIR/journal")
  run --separate-stderr npx zx scripts/runbook.mjs "${args[@]}" --var "marker=$BATS_TEST_TMPDIR/marker"
  [ "$status" -eq 1 ]
  [[ "$output" == *'step 2/2 "gate" (Fail until the marker exists) failed: exit code 1'* ]]
  [[ "$output" == *"--resume"* ]]
  ls "$BATS_TEST_TMPDIR/journal/pim/"flaky-*.jsonl
  touch "$BATS_TEST_TMPDIR/marker"
  run --separate-stderr npx zx scripts/runbook.mjs "${args[@]}" --resume --json
  [ "$status" -eq 0 ]
  run jq -e '.status == "ok" and .steps[0].status == "done-before" and .steps[1].status == "ok"' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "runbook.mjs --render-docs --check exits 0 on the committed pages and 3 on an edited copy" {
  run --separate-stderr npx zx scripts/runbook.mjs --render-docs --check
  [ "$status" -eq 0 ]
  cp -r docs/runbooks "$BATS_TEST_TMPDIR/docs"
  echo "edited" >>"$BATS_TEST_TMPDIR/docs/safe-update.md"
  run --separate-stderr npx zx scripts/runbook.mjs --render-docs --check --docs-dir "$BATS_TEST_TMPDIR/docs"
  [ "$status" -eq 3 ]
  [[ "$output" == *"safe-update.md (committed)"* ]]
  [[ "$output" == *"run npx zx scripts/runbook.mjs --render-docs"* ]]
}
