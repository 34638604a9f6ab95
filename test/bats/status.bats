#!/usr/bin/env bats
# scripts/status.mjs: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
  # A stack nothing of which exists on the engine: with --all it is listed as
  # not deployed; named with --stack it is checked, and has no backup.
  APP="stwstbats$RANDOM$RANDOM"
  write_one_volume_stack "$APP"
  COMMON=(--stacks-dir "$BATS_TEST_TMPDIR/stacks" --to "$BATS_TEST_TMPDIR/backups" --state-dir "$BATS_TEST_TMPDIR/state")
}

@test "status.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/status.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/status.mjs --stack <app>-<env> | --all [--engine URL] [--to DIR|restic:REPO] [--html FILE] [--prom FILE] [--no-measure] [--state-dir DIR] [--json]"* ]]
  [[ "$output" == *"backups.maxAge (default 26h)"* ]]
}

@test "status.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/status.mjs --all --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "status.mjs without --stack or --all exits 2 and says to pass one" {
  run --separate-stderr npx zx scripts/status.mjs "${COMMON[@]}"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"pass --stack <app>-<env> or --all"* ]]
}

@test "status.mjs with both --stack and --all exits 2" {
  run --separate-stderr npx zx scripts/status.mjs "${COMMON[@]}" --all --stack "$APP-dev"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack and --all exclude each other"* ]]
}

@test "status.mjs --all with an invalid stack file exits 2 naming file:line:column, and writes no report" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/status.mjs --all --stacks-dir "$stacks" --html "$BATS_TEST_TMPDIR/report.html"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
  [ ! -e "$BATS_TEST_TMPDIR/report.html" ]
}

@test "status.mjs --to a restic repository without its password exits 2 and says where the password comes from" {
  run --separate-stderr env -u RESTIC_PASSWORD -u RESTIC_PASSWORD_FILE npx zx scripts/status.mjs --stack "$APP-dev" --stacks-dir "$BATS_TEST_TMPDIR/stacks" --to restic:/srv/restic --json
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"restic:/srv/restic needs the repository's password: set backups.resticPasswordFile"* ]]
  run jq -e '.error.kind == "usage"' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "status.mjs --all lists an environment with nothing on the engine and no backups as not deployed, and exits 0" {
  run --separate-stderr npx zx scripts/status.mjs --all "${COMMON[@]}" --yes
  [ "$status" -eq 0 ]
  [[ "$output" == *"$APP-dev (project $APP): NOT DEPLOYED"* ]]
  [[ "$output" == *"0 of 1 stack environment(s) checked, nothing deployed here to check"* ]]
}

@test "status.mjs --stack of a stack without backups exits 3 and --json says why, with the fix" {
  run --separate-stderr npx zx scripts/status.mjs --stack "$APP-dev" "${COMMON[@]}" --no-measure --json
  [ "$status" -eq 3 ]
  run jq -e --arg app "$APP" '
    .format == 1 and .ok == false and (.stacks | length) == 1
    and .stacks[0].stack == ($app + "-dev") and .stacks[0].deployed == true
    and ([.stacks[0].problems[] | select(.kind == "no-backup") | .subject] == ["data"])
    and ([.stacks[0].problems[] | select(.kind == "drift") | .subject] | sort) == [($app + "-app"), ($app + "_data")]
    and (.stacks[0].problems[0].fix | test("npx zx scripts/backup.mjs --stack " + $app + "-dev"))' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "status.mjs --html writes one page and --prom a textfile, atomically, and nothing else" {
  mkdir -p "$BATS_TEST_TMPDIR/out"
  run --separate-stderr npx zx scripts/status.mjs --stack "$APP-dev" "${COMMON[@]}" --no-measure --html "$BATS_TEST_TMPDIR/out/status.html" --prom "$BATS_TEST_TMPDIR/out/status.prom"
  [ "$status" -eq 3 ]
  [ "$(ls -A "$BATS_TEST_TMPDIR/out" | sort | tr '\n' ' ')" = "status.html status.prom " ]
  grep -q '<html lang="en">' "$BATS_TEST_TMPDIR/out/status.html"
  grep -Eq "^stowage_status_backup_present\{project=\"$APP\",env=\"dev\",volume=\"data\"\} 0$" "$BATS_TEST_TMPDIR/out/status.prom"
  [ ! -e "$BATS_TEST_TMPDIR/backups" ]
  [ ! -e "$BATS_TEST_TMPDIR/state" ]
}
