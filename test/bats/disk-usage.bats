#!/usr/bin/env bats
# scripts/disk-usage.mjs: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
  # A stack whose volumes do not exist: disk-usage reports them, measures the
  # data root's filesystem and starts no container.
  APP="stwdubats$RANDOM$RANDOM"
  write_one_volume_stack "$APP"
  STACK=(--stack "$APP-dev" --stacks-dir "$BATS_TEST_TMPDIR/stacks" --history "$BATS_TEST_TMPDIR/history.json")
}

@test "disk-usage.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/disk-usage.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/disk-usage.mjs --stack <app>-<env> | --all [--engine URL] [--top N] [--warn P] [--crit P] [--history FILE] [--prom FILE] [--dry-run] [--json]"* ]]
  [[ "$output" == *"Exit codes: "*"3 a check found a problem"* ]]
}

@test "disk-usage.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "disk-usage.mjs without --stack exits 2" {
  run --separate-stderr npx zx scripts/disk-usage.mjs
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack is required"* ]]
}

@test "disk-usage.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/disk-usage.mjs --stack shop-dev --stacks-dir "$stacks"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "disk-usage.mjs --top that is not a number exits 2" {
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --top many
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--top many: expected a whole number"* ]]
}

@test "disk-usage.mjs --warn above --crit exits 2" {
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --warn 95 --crit 90
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"warn level 95% is above crit level 90%"* ]]
}

@test "disk-usage.mjs --json prints one JSON document and reports a missing volume without failing" {
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --warn 99.99 --crit 100 --json
  [ "$status" -eq 0 ]
  run jq -e --arg app "$APP" '.project == $app and .volumes[0].volume == "data" and .volumes[0].status == "missing" and (.filesystems | length) >= 1' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "disk-usage.mjs exits 3 when a filesystem crosses --warn and names it" {
  root="$(docker info --format '{{.DockerRootDir}}')"
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --warn 0.001
  [ "$status" -eq 3 ]
  [[ "$stderr" == *"filesystem $root is "*"% full, "*" points over the "*" level of "* ]]
}

@test "disk-usage.mjs --prom writes a Prometheus textfile" {
  run --separate-stderr npx zx scripts/disk-usage.mjs "${STACK[@]}" --warn 99.99 --crit 100 --prom "$BATS_TEST_TMPDIR/out/stowage.prom"
  [ "$status" -eq 0 ]
  grep -q '^# TYPE stowage_filesystem_used_ratio gauge$' "$BATS_TEST_TMPDIR/out/stowage.prom"
  grep -Eq "^stowage_volume_present\{project=\"$APP\",volume=\"data\"\} 0$" "$BATS_TEST_TMPDIR/out/stowage.prom"
  [ "$(ls -A "$BATS_TEST_TMPDIR/out")" = "stowage.prom" ]
}
